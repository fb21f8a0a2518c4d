//! The host's own answers: short plain-text responses that say what went wrong, never why in
//! detail (the cause is in the host's log).

use super::body::BodyWatch;
use crate::limits::Limits;
use crate::manifest::ComponentName;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A short plain-text answer from the host itself.
pub fn plain(status: StatusCode, message: String) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(message + "\n")).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

pub fn too_large(max: u64) -> Response<HyperOutgoingBody> {
    plain(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {max} bytes"))
}

/// 504, or 408 when the component was still waiting for the client's body.
pub fn past_deadline(component: &ComponentName, limits: &Limits, body: &BodyWatch) -> Response<HyperOutgoingBody> {
    let timeout = limits.timeout;
    if body.waiting() {
        tracing::warn!(?timeout, "the client was still sending the request body at the deadline; answering 408");
        return plain(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {timeout:?}"));
    }
    plain(StatusCode::GATEWAY_TIMEOUT, format!("the `{component}` service took longer than {timeout:?}"))
}

/// 503 with `Retry-After`: the component (or the host) has no place for another request now.
pub fn busy(component: &str) -> Response<HyperOutgoingBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, format!("the `{component}` service is busy; try again"));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Logs `cause` and answers 500 without revealing it to the client.
pub fn failure(component: &ComponentName, cause: String) -> Response<HyperOutgoingBody> {
    tracing::error!("{cause}");
    internal_error(component)
}

pub fn internal_error(component: &ComponentName) -> Response<HyperOutgoingBody> {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the `{component}` service failed; the cause is in the host's log"),
    )
}

pub fn bad_gateway(component: &ComponentName, callee: &str) -> Response<HyperOutgoingBody> {
    plain(StatusCode::BAD_GATEWAY, format!("the `{callee}` service, which `{component}` relies on, failed"))
}
