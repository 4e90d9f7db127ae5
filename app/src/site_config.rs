//! What the site must know of the server's settings: the request limits and the models it
//! serves per task. The server provides it as a context (`leptos_routes_with_context`);
//! [`provide_site_config`] ships the server's value to the browser with the page, so both render
//! the same. Without a context (unit tests, the 404 page) the site uses [`fallback`],
//! the server's defaults.

pub use api_types::{SiteConfig, SiteModel};
use leptos::prelude::*;

/// The server's default `--body-limit`.
const FALLBACK_BODY_LIMIT_BYTES: u64 = 16 * 1024 * 1024;
/// The server's default `--text-limit`.
const FALLBACK_TEXT_LIMIT_CHARS: usize = 20_000;
/// The default catalog's models: (task, id, label), each task's default first.
const FALLBACK_MODELS: &[(&str, &str, &str)] = &[
    ("segmentation", "selfie", "MediaPipe Selfie (256×256)"),
    ("segmentation", "meet", "MediaPipe Meet (256×144)"),
    ("detection", "nanodet", "NanoDet-g 416 (fast)"),
    (
        "detection",
        "centernet",
        "CenterNet MobileNetV3 512 (accurate)",
    ),
    (
        "classification",
        "efficientnet-lite0",
        "EfficientNet-Lite0 (ImageNet-1k)",
    ),
    (
        "summarization",
        "smollm2",
        "SmolLM2-135M-Instruct (Q4_1 GGUF)",
    ),
];

/// The server's defaults: its default limits and the default catalog.
pub fn fallback() -> SiteConfig {
    let mut seen = Vec::new();
    let models = FALLBACK_MODELS
        .iter()
        .map(|&(task, id, label)| {
            let default = !seen.contains(&task);
            seen.push(task);
            SiteModel {
                id: id.into(),
                task: task.into(),
                label: label.into(),
                default,
            }
        })
        .collect();
    SiteConfig {
        body_limit_bytes: FALLBACK_BODY_LIMIT_BYTES,
        text_limit_chars: FALLBACK_TEXT_LIMIT_CHARS,
        models,
    }
}

/// Makes the server's [`SiteConfig`] the app's, in the browser too: on the server it is the
/// context the server provided (or the fallback), serialized into the page; while hydrating it
/// is read back from there. Call once, at the top of the app, before any page reads it.
pub fn provide_site_config() {
    let config = SharedValue::new(|| use_context::<SiteConfig>().unwrap_or_else(fallback));
    provide_context(config.into_inner());
}

/// The site's configuration (see [`provide_site_config`]); the fallback when none is provided.
pub fn use_site_config() -> SiteConfig {
    use_context::<SiteConfig>().unwrap_or_else(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_has_the_servers_defaults_with_one_default_model_per_task() {
        let c = fallback();
        assert_eq!(c.body_limit_bytes, 16 * 1024 * 1024);
        assert_eq!(c.text_limit_chars, 20_000);
        for task in [
            "segmentation",
            "detection",
            "classification",
            "summarization",
        ] {
            let models = c.models_of(task);
            assert_eq!(models.iter().filter(|m| m.default).count(), 1, "{task}");
            assert!(models[0].default, "{task}: default first");
        }
        assert_eq!(c.default_model("detection"), "nanodet");
    }

    #[test]
    fn the_provided_config_wins_and_lists_its_default_first() {
        let owner = Owner::new();
        owner.with(|| {
            let served = SiteConfig {
                body_limit_bytes: 1024,
                text_limit_chars: 50,
                models: vec![
                    SiteModel {
                        id: "a".into(),
                        task: "detection".into(),
                        label: "A".into(),
                        default: false,
                    },
                    SiteModel {
                        id: "b".into(),
                        task: "detection".into(),
                        label: "B".into(),
                        default: true,
                    },
                ],
            };
            assert_eq!(use_site_config(), fallback());
            provide_context(served.clone());
            provide_site_config();
            assert_eq!(use_site_config(), served);
            assert_eq!(use_site_config().default_model("detection"), "b");
        });
    }
}
