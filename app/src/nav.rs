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

/// The header. Inside the site's `<Router>` (`routed`) the links are the router's (client-side
/// navigation, `aria-current` on the page shown); the result pages have no router, so plain links.
#[component]
pub fn SiteHeader(#[prop(optional)] routed: bool) -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/">"candlelit"</a>
            <nav aria-label="Tasks">
                {LINKS
                    .iter()
                    .map(|&(href, label)| {
                        if routed {
                            view! { <A href=href>{label}</A> }.into_any()
                        } else {
                            view! { <a href=href>{label}</a> }.into_any()
                        }
                    })
                    .collect_view()}
            </nav>
        </header>
    }
}
