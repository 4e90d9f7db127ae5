//! The site header: the brand and one link per task page, on the hydrated site and on the
//! no-JavaScript result pages alike.

use leptos::prelude::*;
use leptos_router::components::A;

/// The task pages, in the order the header lists them.
const LINKS: [(&str, &str); 5] = [
    ("/segment", "Segment"),
    ("/detect", "Detect"),
    ("/classify", "Classify"),
    ("/summarize", "Summarize"),
    ("/compare", "Compare"),
];

/// The brand and the task links, whichever kind of link the page can use.
fn header(links: impl IntoView) -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/">"candlelit"</a>
            <nav aria-label="Tasks">{links}</nav>
        </header>
    }
}

/// The site's header, inside its `<Router>`: the router's links (client-side navigation,
/// `aria-current` on the page shown).
#[component]
pub fn SiteHeader() -> impl IntoView {
    header(
        LINKS
            .iter()
            .map(|&(href, label)| view! { <A href=href>{label}</A> })
            .collect_view(),
    )
}

/// The result pages' header: they have no router, so plain links. Server-only, so the browser
/// bundle carries one kind of header.
#[cfg(feature = "ssr")]
#[component]
pub fn PlainHeader() -> impl IntoView {
    header(
        LINKS
            .iter()
            .map(|&(href, label)| view! { <a href=href>{label}</a> })
            .collect_view(),
    )
}
