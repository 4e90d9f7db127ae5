//! The server's settings as the Leptos site needs them (`api_types::SiteConfig`), provided as
//! context wherever the server renders the app's HTML: the routed pages, the fallback, and the
//! no-JS result pages. The site reads it instead of repeating server settings.

use api_types::{SiteConfig, SiteModel};
use leptos::prelude::provide_context;
use models::Task;

use crate::state::AppState;

impl AppState {
    /// The limits from the flags (`--body-limit`, `--text-limit`) and the models this server
    /// serves (every catalog model except disabled and uninstalled ones), by task, each task's
    /// default first, then catalog order. Built per render: a hub model installed since start shows up.
    pub fn site_config(&self) -> SiteConfig {
        let mut models = Vec::new();
        for task in Task::ALL {
            // The model a request naming none runs on; while models still load, the catalog's
            // default (what it will be once ready).
            let default = self.models.default_id(task).or(self
                .models
                .catalog
                .default_for(task)
                .map(|d| d.id.as_str()));
            let (defaults, others): (Vec<SiteModel>, Vec<SiteModel>) = self
                .models
                .slots
                .iter()
                .filter(|s| s.spec.task == task && s.state().counts_for_readiness())
                .map(|s| SiteModel {
                    id: s.spec.id.clone(),
                    task: task.name().to_owned(),
                    label: s.spec.name.clone(),
                    default: default == Some(s.spec.id.as_str()),
                })
                .partition(|m| m.default);
            models.extend(defaults.into_iter().chain(others));
        }
        SiteConfig {
            body_limit_bytes: self.limits.body_bytes as u64,
            text_limit_chars: self.limits.text_chars,
            models,
        }
    }

    /// A closure that provides this server's [`SiteConfig`] and the server functions' backend
    /// to the Leptos app, for its pages, its server functions and its fallback.
    pub fn site_context(&self) -> impl Fn() + Clone + Send + Sync + 'static {
        let state = self.clone();
        let backend = app::server_fns::backend::Backend(std::sync::Arc::new(
            crate::site_fns::SiteTasks(self.clone()),
        ));
        move || {
            provide_context(state.site_config());
            provide_context(backend.clone());
        }
    }

    /// Runs `render` (which renders app HTML) with the [`SiteConfig`] in context.
    pub fn with_site_config<T>(&self, render: impl FnOnce() -> T) -> T {
        let owner = leptos::prelude::Owner::new();
        owner.with(|| {
            provide_context(self.site_config());
            render()
        })
    }
}

#[cfg(test)]
mod tests {
    use api_types::SiteConfig;
    use clap::Parser;
    use leptos::prelude::{use_context, Owner};
    use models::Catalog;

    use crate::config::Cli;
    use crate::runtime::served::{EngineConfig, ServedModels};
    use crate::state::AppState;

    fn state_from(args: &[&str]) -> AppState {
        let cli = Cli::try_parse_from(args).unwrap();
        let models = ServedModels::new(
            Catalog::builtin(),
            cli.serve.models.as_deref(),
            EngineConfig::default(),
        );
        AppState::new(models, cli.serve.settings(), "target/site")
    }

    #[test]
    fn the_context_carries_the_flags_and_the_served_models() {
        let state = state_from(&[
            "candlelit",
            "--body-limit",
            "1234",
            "--text-limit",
            "99",
            "--models",
            "meet,selfie,nanodet",
        ]);
        let provide = state.site_context();
        let cfg = Owner::new().with(|| {
            provide();
            use_context::<SiteConfig>()
        });
        let cfg = cfg.expect("SiteConfig in context");
        assert_eq!(cfg.body_limit_bytes, 1234);
        assert_eq!(cfg.text_limit_chars, 99);
        // Disabled models are left out; each task's default first, labels from the catalog.
        let ids: Vec<_> = cfg.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["selfie", "meet", "nanodet"]);
        assert!(cfg.models[0].default && !cfg.models[1].default);
        assert_eq!(cfg.models[2].task, "detection");
        assert_eq!(cfg.models[0].label, "MediaPipe Selfie Segmentation");
        // The result pages render with the same value.
        assert_eq!(state.with_site_config(use_context::<SiteConfig>), Some(cfg));
    }
}
