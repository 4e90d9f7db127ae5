//! The one error type of the site's server functions: the API's error body (`ErrorBody`'s
//! `error`, `type`, `code`) plus `retry_after`, because a server function's caller sees the
//! body but not the headers.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteError {
    /// What went wrong, in the server's words.
    pub error: String,
    /// The API's error kind (`overloaded`, `payload_too_large`, ...), or `network` when no
    /// answer came.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status; 0 when no answer came.
    pub code: u16,
    /// The server's `Retry-After`, in seconds (429, 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
}

impl SiteError {
    pub fn internal(error: String) -> Self {
        Self {
            error,
            kind: "internal".into(),
            code: 500,
            retry_after: None,
        }
    }
}

impl std::fmt::Display for SiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.error, self.code, self.kind)
    }
}

impl FromServerFnError for SiteError {
    type Encoder = JsonEncoding;

    /// What went wrong around the function (the request, its decoding): no answer at all is
    /// `network`; arguments the server could not read are 400; the rest is 500.
    fn from_server_fn_error(e: ServerFnErrorErr) -> Self {
        let (code, kind) = match &e {
            ServerFnErrorErr::Request(_) => (0, "network"),
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_) => {
                (400, "bad_request")
            }
            ServerFnErrorErr::MissingArg(_) => (400, "bad_request"),
            _ => (500, "internal"),
        };
        Self {
            error: e.to_string(),
            kind: kind.into(),
            code,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_apis_error_body_plus_retry_after() {
        let e = SiteError {
            error: "model 'selfie' queue is full".into(),
            kind: "overloaded".into(),
            code: 429,
            retry_after: Some(1),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"error":"model 'selfie' queue is full","type":"overloaded","code":429,"retry_after":1}"#
        );
        // An API error body (no retry_after) reads as one too.
        let api: SiteError =
            serde_json::from_str(r#"{"error":"x","type":"not_found","code":404}"#).unwrap();
        assert_eq!(api.retry_after, None);
        assert_eq!(<SiteError as FromServerFnError>::de(json.into()), e);
    }

    #[test]
    fn no_answer_is_a_network_failure() {
        let e = SiteError::from_server_fn_error(ServerFnErrorErr::Request("refused".into()));
        assert_eq!((e.code, e.kind.as_str()), (0, "network"));
    }
}
