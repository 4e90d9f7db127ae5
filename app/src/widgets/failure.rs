//! Why a run failed, as the user sees it: the server's own words, its status, and whether a
//! Retry is worth offering.

use crate::dto::ErrorBody;
use crate::server_fns::SiteError;

/// Why a run failed, as the user sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The server's `Retry-After`, in seconds.
    pub retry_after: Option<u32>,
    /// Worth a Retry button: the server was busy or unavailable, or the network failed.
    pub retryable: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            ..Self::default()
        }
    }
}

impl From<SiteError> for Failure {
    fn from(e: SiteError) -> Self {
        Self::from_site_error(e)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl Failure {
    /// A failed answer: the server's own `error` text (or the raw body), its status and type,
    /// and for 429/503/504 a hint to retry (after `Retry-After` seconds when given).
    pub fn from_answer(status: u16, retry_after: Option<&str>, body: &str) -> Self {
        let parsed = serde_json::from_str::<ErrorBody>(body).ok();
        let text = parsed
            .as_ref()
            .map(|e| e.error.clone())
            .unwrap_or_else(|| body.trim().to_string());
        let kind = parsed.map(|e| e.kind);
        let retry_after = retry_after.and_then(|s| s.trim().parse::<u32>().ok());
        Self::answered(status, retry_after, &text, kind.as_deref())
    }

    /// A failed answer from its parts: the server's words, status, kind and `Retry-After`.
    fn answered(status: u16, retry_after: Option<u32>, text: &str, kind: Option<&str>) -> Self {
        let kind = kind.map(|k| format!(" {k}")).unwrap_or_default();
        let (lead, retryable) = match status {
            429 => ("The server is busy: ", true),
            503 => ("The model cannot answer right now: ", true),
            504 => ("The server ran out of time: ", true),
            _ => ("", false),
        };
        let hint = match (retryable, retry_after) {
            (false, _) => String::new(),
            (true, Some(s)) => format!(" It asks to retry in {s} s."),
            (true, None) => " Retry in a moment.".to_string(),
        };
        Self {
            message: format!("{lead}{text} ({status}{kind}).{hint}"),
            status: Some(status),
            retry_after,
            retryable,
        }
    }

    /// A server function's failure: no answer at all (`code` 0), or the server's.
    pub fn from_site_error(e: SiteError) -> Self {
        match e.code {
            0 => Self::network(&e.error),
            code => Self::answered(code, e.retry_after, &e.error, Some(&e.kind)),
        }
    }

    /// The request never got an answer (server down, connection cut).
    pub fn network(detail: &str) -> Self {
        Self {
            message: format!("The request failed: {detail}. Is the server running?"),
            retryable: true,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_answers_keep_the_servers_words_and_offer_retry() {
        let body = r#"{"error":"model 'nanodet' queue is full","type":"overloaded","code":429}"#;
        let f = Failure::from_answer(429, Some("1"), body);
        assert!(f.retryable);
        assert_eq!(f.retry_after, Some(1));
        assert!(
            f.message.contains("model 'nanodet' queue is full"),
            "{}",
            f.message
        );
        assert!(f.message.contains("429 overloaded"), "{}", f.message);
        assert!(f.message.contains("retry in 1 s"), "{}", f.message);
    }

    #[test]
    fn a_server_functions_error_reads_as_the_apis() {
        let f = Failure::from(SiteError {
            error: "model 'nanodet' queue is full".into(),
            kind: "overloaded".into(),
            code: 429,
            retry_after: Some(1),
        });
        let g = Failure::from_answer(
            429,
            Some("1"),
            r#"{"error":"model 'nanodet' queue is full","type":"overloaded","code":429}"#,
        );
        assert_eq!(f, g);
        let n = Failure::from(SiteError {
            error: "connection refused".into(),
            kind: "network".into(),
            code: 0,
            retry_after: None,
        });
        assert!(n.retryable && n.status.is_none(), "{n:?}");
    }

    #[test]
    fn client_errors_are_not_retryable_and_non_json_bodies_are_shown() {
        let f = Failure::from_answer(
            415,
            None,
            r#"{"error":"the data is not an image","type":"unsupported_media_type","code":415}"#,
        );
        assert!(!f.retryable);
        assert_eq!(
            f.message,
            "the data is not an image (415 unsupported_media_type)."
        );
        let f = Failure::from_answer(502, None, "Bad Gateway\n");
        assert_eq!(f.message, "Bad Gateway (502).");
    }
}
