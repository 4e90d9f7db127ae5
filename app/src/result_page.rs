//! The frame of the result pages for the forms posted without JavaScript (`POST
//! /segment/result`, `/detect/result`, `/classify/result`, `/summarize/result`): the server runs
//! the same handler as the JSON API and renders its answer as a plain HTML page in the site's
//! style, with no hydration (there is no script to run it). The hydrated pages never post these
//! forms. Each task's own result page is `tasks/<task>/result.rs`; this file has the document
//! around them, the latency line and the error page.

use leptos::prelude::*;

use crate::dto::Timings;
use crate::nav::PlainHeader;

/// A whole HTML document around `body`, with the site's header and stylesheet.
pub fn document(title: &str, body: AnyView) -> String {
    let title = format!("{title} · candlelit");
    let owner = Owner::new();
    owner.with(move || {
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <link rel="stylesheet" href="/pkg/frontend.css"/>
                    <title>{title}</title>
                </head>
                <body>
                    <PlainHeader/>
                    <main>{body}</main>
                </body>
            </html>
        }
        .to_html()
    })
}

/// The latency line, as on the hydrated pages.
pub fn latency(model: &str, w: u32, h: u32, t: &Timings) -> String {
    format!(
        "{model} · {w}×{h} · queue {:.1} ms · inference {:.1} ms · server {:.1} ms",
        t.queue_ms, t.inference_ms, t.total_ms
    )
}

/// A failed run: the server's own message, and the way back to the form.
pub fn error_html(back: &str, status: u16, message: &str, retry_after: Option<&str>) -> String {
    let retry = retry_after.map(|s| format!(" Try again in {s} s."));
    let body = view! {
        <section class="task result-page">
            <h1>"That did not work"</h1>
            <p id="error" class="error" role="alert">{message.to_string()} " (" {status} ")." {retry}</p>
            <p><a href=back.to_string()>"Back to the form"</a></p>
        </section>
    }
    .into_any();
    document("Error", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_keeps_the_message_and_escapes_it() {
        let html = error_html("/segment", 415, "the data is <not> an image", Some("3"));
        assert!(html.contains("the data is &lt;not&gt; an image"), "{html}");
        assert!(html.contains("415") && html.contains("Try again in 3 s."));
    }
}
