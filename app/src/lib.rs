//! The candlelit site: Leptos pages and components, rendered on the server and hydrated in the
//! browser. No candle here: the browser talks to the HTTP API, and everything it computes
//! (re-thresholding, blending) runs on data the server already returned.

pub mod dto;
pub mod pages;

#[cfg(feature = "hydrate")]
mod client;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

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
    view! {
        <Stylesheet id="candlelit" href="/pkg/frontend.css"/>
        <Title text="candlelit"/>
        <Router>
            <header class="site-header">
                <a class="brand" href="/">"candlelit"</a>
                <span class="tagline">"pretrained models, served with candle"</span>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::segment::SegmentPage/>
                    <Route path=path!("/segment") view=pages::segment::SegmentPage/>
                </Routes>
            </main>
        </Router>
    }
}
