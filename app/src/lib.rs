//! The candlelit site: Leptos pages and components, rendered on the server and hydrated in the
//! browser. No candle here: the browser talks to the HTTP API, and everything it computes
//! (re-thresholding, blending) runs on data the server already returned.

pub mod dto;
pub mod pages;
pub mod pixels;
pub mod sse;
pub mod sync_view;

#[cfg(feature = "hydrate")]
mod client;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;
use sync_view::SyncView;

/// The HTML document around the app (server side only renders this once per page).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content="candlelit: pretrained vision and text models served with candle"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: mark the page once hydrated (tests wait for this).
    Effect::new(|_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
    view! {
        <Stylesheet id="candlelit" href="/pkg/frontend.css"/>
        <Title text="candlelit"/>
        <Router>
            <header class="site-header">
                <a class="brand" href="/">"candlelit"</a>
                <nav aria-label="Tasks">
                    <A href="/segment">"Segment"</A>
                    <A href="/detect">"Detect"</A>
                    <A href="/classify">"Classify"</A>
                    <A href="/summarize">"Summarize"</A>
                    <A href="/compare">"Compare"</A>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    // Each page is type-erased by the router; SyncView keeps its async hydration
                    // (never used: no lazy routes) out of the wasm. See sync_view.rs.
                    <Route path=path!("/") view=|| SyncView(pages::home::HomePage())/>
                    <Route path=path!("/segment") view=|| SyncView(pages::segment::SegmentPage())/>
                    <Route path=path!("/detect") view=|| SyncView(pages::detect::DetectPage())/>
                    <Route path=path!("/classify") view=|| SyncView(pages::classify::ClassifyPage())/>
                    <Route path=path!("/summarize") view=|| SyncView(pages::summarize::SummarizePage())/>
                    <Route path=path!("/compare") view=|| SyncView(pages::compare::ComparePage())/>
                </Routes>
            </main>
        </Router>
    }
}
