//! "Use via API": for the current input and settings, the exact `curl` command that makes the
//! same request, and a sample of the JSON it answers (embedded images left out).

use leptos::prelude::*;

use super::run::InputRef;

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The curl command posting `input` to `origin` + `path` (path and query string).
pub fn curl_command(origin: &str, path: &str, input: &InputRef) -> String {
    let url = sh_quote(&format!("{origin}{path}"));
    match input {
        InputRef::File(name) => format!("curl -F {} {url}", sh_quote(&format!("file=@{name}"))),
        InputRef::Url(u) => format!(
            "curl -H 'content-type: application/json' \\\n     -d {} \\\n     {url}",
            sh_quote(&serde_json::json!({ "image_url": u }).to_string())
        ),
    }
}

/// The answer as pretty JSON, without the base64 images the page asked for (a plain call
/// without `include` gets none) and with long lists cut to `max_items`.
pub fn json_sample(answer: &serde_json::Value, max_items: usize) -> String {
    let mut v = answer.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|k, _| !k.ends_with("_png"));
        for (_, field) in obj.iter_mut() {
            if let Some(list) = field.as_array_mut() {
                list.truncate(max_items);
            }
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The page origin in the browser; a stand-in while rendering on the server.
fn origin() -> String {
    #[cfg(feature = "hydrate")]
    if let Ok(o) = window().location().origin() {
        return o;
    }
    "http://localhost:3000".to_string()
}

/// The collapsible panel. `path` is the API path and query for the current settings; `sample`
/// the JSON to show. Both are empty until the first run.
#[component]
pub fn ApiUsage(
    input: RwSignal<Option<InputRef>>,
    path: Signal<String>,
    sample: Signal<String>,
) -> impl IntoView {
    let command = move || {
        input
            .get()
            .map(|i| curl_command(&origin(), &path.get(), &i))
            .unwrap_or_else(|| "Run the model once to see the command for your input.".into())
    };
    view! {
        <details id="use-api" class="panel api-usage">
            <summary>"Use via API"</summary>
            <p>"The same request from a terminal, with the current model and settings:"</p>
            <pre><code id="curl-command">{command}</code></pre>
            <p>"It answers JSON like this (from the run above):"</p>
            <pre><code id="json-sample">{move || sample.get()}</code></pre>
            <p class="hint">"All routes and fields: " <a href="/docs">"the OpenAPI docs"</a> "."</p>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_for_a_file_and_for_a_url() {
        let c = curl_command(
            "http://h:1",
            "/api/v1/detect/nanodet?confidence=0.35",
            &InputRef::File("dog's.jpg".into()),
        );
        assert_eq!(
            c,
            r"curl -F 'file=@dog'\''s.jpg' 'http://h:1/api/v1/detect/nanodet?confidence=0.35'"
        );
        let c = curl_command(
            "http://h:1",
            "/api/v1/classify/x?top_k=5",
            &InputRef::Url("https://e.com/a.jpg".into()),
        );
        assert!(
            c.contains(r#"-d '{"image_url":"https://e.com/a.jpg"}'"#),
            "{c}"
        );
    }

    #[test]
    fn sample_drops_images_and_cuts_lists() {
        let v = serde_json::json!({"model": "m", "image_png": "data:...", "detections": [1, 2, 3]});
        let s = json_sample(&v, 2);
        assert!(!s.contains("image_png"));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["detections"], serde_json::json!([1, 2]));
    }
}
