//! The host's own endpoints on the public listener, under `/.well-known/civic`: never routed to
//! a city (a manifest may not claim the path), and without a token, for load balancers and
//! Kubernetes' probes.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /.well-known/civic/health` | 200 `ok` while the process serves (liveness) |
//! | `GET /.well-known/civic/ready` | 200 `ready` when the cities are loaded and the state store answers; 503 with the reason while it does not, and from SIGTERM on (readiness) |

use super::Host;
use super::answer::plain;
use crate::manifest::{HOST_PATHS, HOST_ROUTE};
use http::{Response, StatusCode};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The host's answer to `path`, when the path is the host's own.
pub async fn answer<H: Host>(host: &H, path: &str) -> Option<Response<HyperOutgoingBody>> {
    if !HOST_ROUTE.matches(path) {
        return None;
    }
    Some(match &path[HOST_PATHS.len()..] {
        "/health" => plain(StatusCode::OK, "ok".into()),
        "/ready" => match host.ready().await {
            Ok(()) => plain(StatusCode::OK, "ready".into()),
            Err(reason) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")),
        },
        _ => plain(StatusCode::NOT_FOUND, format!("the host answers `{HOST_PATHS}/health` and `{HOST_PATHS}/ready`")),
    })
}
