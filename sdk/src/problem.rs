//! Errors as HTTP answers: RFC 9457 `application/problem+json` bodies that say what went wrong
//! and, for bad input, which field.
//!
//! ```
//! use civic_sdk::Problem;
//!
//! let problem = Problem::invalid("birth_date", "must be a date like 2021-03-14");
//! let response = civic_sdk::IntoResponse::into_response(problem);
//! assert_eq!(response.status(), 400);
//! let body: serde_json::Value = serde_json::from_slice(response.body_bytes()).unwrap();
//! assert_eq!(body["invalid-params"][0]["name"], "birth_date");
//! ```

use crate::http::{IntoResponse, Response};
use ::http::StatusCode;
use serde_json::json;
use std::fmt;

/// A problem to answer with instead of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    detail: String,
    /// `(field, reason)` for each field of the input that was wrong.
    invalid: Vec<(String, String)>,
}

impl Problem {
    /// A problem with `status` and a sentence that explains it; an out-of-range status is 500.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, detail: detail.into(), invalid: Vec::new() }
    }

    /// 400: the input is wrong as a whole (not JSON, say).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, detail)
    }

    /// 400 naming the `field` that is wrong and why.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        Self { status: StatusCode::BAD_REQUEST, detail: format!("`{field}` {reason}"), invalid: vec![(field, reason)] }
    }

    /// 404: no such thing.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, detail)
    }

    /// 409: the request conflicts with the current state (withdrawing twice, say).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, detail)
    }

    /// 503: the service cannot answer now but will soon; the answer carries `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, detail)
    }

    /// 500: the component or its configuration failed; `detail` goes to the host's log, not to
    /// the client.
    pub fn internal(detail: impl fmt::Display) -> Self {
        crate::log::error(&detail.to_string());
        Self::new(500, "the service failed; the cause is in the host's log")
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence that explains it.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// `(field, reason)` for each field of the input that was wrong.
    pub fn invalid_fields(&self) -> &[(String, String)] {
        &self.invalid
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// The `application/problem+json` body, to answer with or to embed in a larger answer.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.invalid.is_empty() {
            let invalid: Vec<_> =
                self.invalid.iter().map(|(name, reason)| json!({ "name": name, "reason": reason })).collect();
            body["invalid-params"] = json!(invalid);
        }
        body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let response = Response::new(self.status.as_u16()).header("content-type", "application/problem+json");
        // A 503 says the service will answer again: tell clients when to retry.
        let response = match self.status {
            StatusCode::SERVICE_UNAVAILABLE => response.header("retry-after", "1"),
            _ => response,
        };
        response.body(serde_json::to_vec(&self.to_json()).unwrap_or_default())
    }
}

impl From<crate::kv::Error> for Problem {
    fn from(error: crate::kv::Error) -> Self {
        match error {
            // The host logs once that the store is unreachable, not once per request.
            crate::kv::Error::Unavailable(_) => {
                Self::unavailable("the service's storage cannot be reached right now; try again shortly")
            }
            error => Self::internal(format_args!("key-value store: {error}")),
        }
    }
}

impl From<crate::config::Error> for Problem {
    fn from(error: crate::config::Error) -> Self {
        Self::internal(error)
    }
}
