//! The input a page runs on: where it came from ([`Source`]), and turning what the user picked
//! into it, checked against the server's limits first.

use std::cell::RefCell;
use std::thread::LocalKey;

use wasm_bindgen::JsCast;
use web_sys::{File, HtmlInputElement};

use crate::widgets::failure::Failure;
use crate::widgets::pick::{check_upload, Pick};
use crate::widgets::run::InputRef;

/// The image a page runs on: kept so a model switch or Retry can run again on the same input.
#[derive(Clone)]
pub enum Source {
    File(File),
    Url(String),
    /// A bundled sample photo, fetched from `/samples/{name}` and uploaded as a file.
    Sample(&'static str),
}

impl Source {
    /// How "Use via API" names this input.
    pub fn as_ref(&self) -> InputRef {
        match self {
            Source::File(f) => InputRef::File(f.name()),
            Source::Url(u) => InputRef::Url(u.clone()),
            Source::Sample(n) => InputRef::File((*n).to_string()),
        }
    }
}

/// Where each page keeps its last input.
pub type LastSource = LocalKey<RefCell<Option<Source>>>;

/// The first file on the clipboard of a paste event, if any.
pub fn pasted_file(ev: &web_sys::ClipboardEvent) -> Option<File> {
    ev.clipboard_data()
        .and_then(|d| d.files())
        .and_then(|f| f.get(0))
}

/// Turns a pick into the input to run on (remembering it in `last`): `Ok(None)` when there is
/// nothing to run yet, `Err` with a message for the user. Files are checked against the
/// server's limits first (`body_limit_bytes`), so a wrong or oversized file never uploads.
pub fn resolve(
    pick: Pick,
    last: &'static LastSource,
    body_limit_bytes: u64,
) -> Result<Option<Source>, Failure> {
    let file = match pick {
        Pick::File(ev) => {
            let input: HtmlInputElement = ev.target().ok_or("no target")?.unchecked_into();
            input.files().and_then(|f| f.get(0))
        }
        Pick::Drop(ev) => ev
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|f| f.get(0)),
        Pick::Paste(ev) => pasted_file(&ev),
        Pick::Sample(name) => return Ok(Some(remember(last, Source::Sample(name)))),
        Pick::Url(u) => {
            let u = u.trim();
            if u.is_empty() {
                return Err("Paste an image URL first.".into());
            }
            return Ok(Some(remember(last, Source::Url(u.to_string()))));
        }
        Pick::Again => return Ok(last.with(|s| s.borrow().clone())),
    };
    let Some(file) = file else {
        return Ok(None);
    };
    check_upload(&file.name(), &file.type_(), file.size(), body_limit_bytes)?;
    Ok(Some(remember(last, Source::File(file))))
}

fn remember(last: &'static LastSource, src: Source) -> Source {
    last.with(|l| *l.borrow_mut() = Some(src.clone()));
    src
}
