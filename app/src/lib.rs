//! The candlelit site: Leptos pages and components, rendered on the server and hydrated in the
//! browser. No candle here: the pages run models through the server functions in
//! [`server_fns`] (the server implements their backend), and everything the browser computes
//! (re-thresholding, blending) runs on data the server already returned.

#[cfg(feature = "hydrate")]
mod browser;
pub mod dto;
pub mod home;
pub mod nav;
#[cfg(feature = "ssr")]
pub mod result_page;
pub mod server_fns;
pub mod site_config;
pub mod sync_view;
pub mod tasks;
pub mod widgets;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use nav::SiteHeader;
use sync_view::SyncView;

/// The HTML document around the app (server side only renders this once per page). Its head
/// repeats the result pages' (`result_page::document`), which have no scripts to load: kept
/// apart so the no-JavaScript pages never carry the hydration scripts.
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
    site_config::provide_site_config();
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
            <SiteHeader/>
            <main>
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    // Each page is type-erased by the router; SyncView keeps its async hydration
                    // (never used: no lazy routes) out of the wasm. See sync_view.rs.
                    <Route path=path!("/") view=|| SyncView(home::HomePage())/>
                    <Route path=path!("/segment") view=|| SyncView(tasks::segment::SegmentPage())/>
                    <Route path=path!("/detect") view=|| SyncView(tasks::detect::DetectPage())/>
                    <Route path=path!("/classify") view=|| SyncView(tasks::classify::ClassifyPage())/>
                    <Route path=path!("/summarize") view=|| SyncView(tasks::summarize::SummarizePage())/>
                    <Route path=path!("/compare") view=|| SyncView(tasks::compare::ComparePage())/>
                </Routes>
            </main>
        </Router>
    }
}
