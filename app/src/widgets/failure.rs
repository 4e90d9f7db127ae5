//! Why a run failed, as the user sees it: the server's own words, its status, and whether a
//! Retry is worth offering.

use crate::dto::ErrorBody;

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
        let kind = parsed.map(|e| format!(" {}", e.kind)).unwrap_or_default();
        let retry_after = retry_after.and_then(|s| s.trim().parse::<u32>().ok());
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
