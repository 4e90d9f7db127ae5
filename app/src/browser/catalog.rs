//! `GET /api/v1/models`, fetched once per page load and shared by every model picker on it.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::RequestInit;

use super::http::{fetch, text};
use crate::dto::ModelInfo;

thread_local! {
    static CACHE: RefCell<Option<Vec<ModelInfo>>> = const { RefCell::new(None) };
    static WAITING: RefCell<Vec<RwSignal<Vec<ModelInfo>>>> = const { RefCell::new(Vec::new()) };
    static IN_FLIGHT: Cell<bool> = const { Cell::new(false) };
}

/// Fills `into` with the catalog, from the cache or from one request shared by all callers.
/// A failed request leaves the pickers with their static lists (no error: it is extra detail).
pub fn load(into: RwSignal<Vec<ModelInfo>>) {
    if let Some(all) = CACHE.with(|c| c.borrow().clone()) {
        into.set(all);
        return;
    }
    WAITING.with(|w| w.borrow_mut().push(into));
    if IN_FLIGHT.with(|f| f.replace(true)) {
        return;
    }
    spawn_local(async {
        let got = async {
            let resp = fetch("/api/v1/models", &RequestInit::new()).await.ok()?;
            if !resp.ok() {
                return None;
            }
            serde_json::from_str::<Vec<ModelInfo>>(&text(&resp).await.ok()?).ok()
        }
        .await;
        IN_FLIGHT.with(|f| f.set(false));
        let waiting = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
        if let Some(all) = got {
            CACHE.with(|c| *c.borrow_mut() = Some(all.clone()));
            for s in waiting {
                // The page may have been left meanwhile.
                s.try_set(all.clone());
            }
        }
    });
}
