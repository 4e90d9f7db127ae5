//! What the user picked with the input controls ([`Pick`]) and the checks made before an
//! upload, against what the server accepts.

use crate::dto::ACCEPTED_TYPES;

/// What the user just did with the input controls; the page's browser code decides what to run.
pub enum Pick {
    /// The file input changed.
    File(leptos::ev::Event),
    /// Something was dropped on the drop zone.
    Drop(leptos::ev::DragEvent),
    /// Something was pasted on the page (an image, or an image URL).
    Paste(leptos::ev::ClipboardEvent),
    /// One of the bundled sample photos (`GET /samples/{name}`).
    Sample(&'static str),
    /// The URL form was submitted with this text.
    Url(String),
    /// The upload form was submitted, the model changed, or Retry: run again on the last input.
    Again,
}

/// Checks a file against what the server accepts before uploading it: the browser's type (the
/// server sniffs the bytes, so an unknown type is let through) and the body limit
/// (`body_limit_bytes`, the server's `--body-limit`).
pub fn check_upload(
    name: &str,
    mime: &str,
    size: f64,
    body_limit_bytes: u64,
) -> Result<(), String> {
    let limit = body_limit_bytes as f64;
    if !mime.is_empty() && !ACCEPTED_TYPES.contains(&mime) {
        return Err(format!(
            "“{name}” is {mime}, not a photo the models read. Choose a JPEG, PNG, WebP, GIF or BMP image."
        ));
    }
    // Leave room for the multipart envelope around the file.
    if size + 4096.0 > limit {
        return Err(format!(
            "“{name}” is {:.1} MiB; the server accepts uploads up to {:.0} MiB. Try a smaller or more compressed photo.",
            size / 1048576.0,
            limit / 1048576.0
        ));
    }
    Ok(())
}

/// The "what the server accepts" hint under the file button.
pub fn limits_hint(body_limit_bytes: u64) -> String {
    format!(
        "JPEG, PNG, WebP, GIF or BMP · up to {:.0} MiB",
        body_limit_bytes as f64 / 1048576.0
    )
}

/// `name` if it is one of the bundled samples (the only names a link may run).
pub fn sample_named(name: &str) -> Option<&'static str> {
    crate::dto::SAMPLES
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_links_name_only_the_bundled_samples() {
        assert_eq!(sample_named("dog.jpg"), Some("dog.jpg"));
        assert_eq!(sample_named("../secret"), None);
        assert_eq!(sample_named(""), None);
    }

    #[test]
    fn uploads_are_checked_for_type_and_size() {
        const LIMIT: u64 = 16 * 1048576;
        assert!(check_upload("a.jpg", "image/jpeg", 1e6, LIMIT).is_ok());
        assert!(check_upload("a", "", 1e6, LIMIT).is_ok());
        assert!(check_upload("notes.txt", "text/plain", 10.0, LIMIT)
            .unwrap_err()
            .contains("text/plain"));
        assert!(
            check_upload("big.jpg", "image/jpeg", 17.0 * 1048576.0, LIMIT)
                .unwrap_err()
                .contains("up to 16 MiB")
        );
    }
}
