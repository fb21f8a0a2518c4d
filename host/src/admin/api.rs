//! The admin API, for machines: every request must carry `Authorization: Bearer TOKEN`
//! (compared in constant time).
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 `ok` while the host serves |
//! | `GET /metrics` | requests, errors, latency and swaps per city and component (Prometheus) |
//! | `GET /v1/components` | every city's components: source, sha256, version, since, counts, health |
//! | `GET /v1/cluster` | every host of the cluster and, per component, which version each serves |
//! | `GET /v1/cities/{city}/components/{name}/versions` | its versions, newest first: who and when |
//! | `PUT /v1/cities/{city}/components/{name}` | swaps in the `.wasm` in the body |
//! | `POST /v1/cities/{city}/components/{name}/rollback` | puts the previous version back |
//! | `POST /v1/reload` | re-reads the manifests and applies the difference |
//!
//! A refusal answers `{"kind": …, "error": …}`: `kind` is stable (`not-found`, `no-earlier-version`,
//! `manifest`, or the check a version failed: `compile`, `imports`, `exports`, `links`, `health`),
//! `error` says it in words.

use super::{Admin, cluster, components, json_response, metrics, text};
use crate::http::Host as _;
use crate::manifest::WasmFile;
use crate::runtime::swap::SwapError;
use crate::runtime::watch;
use crate::sandbox::Version;
use crate::state::StoreError;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

/// The largest component an operator may upload.
pub const MAX_UPLOAD: usize = 256 << 20;

/// Whether `path` is the API's (the rest of the listener is the console's).
pub fn serves(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics" | "/v1") || path.starts_with("/v1/")
}

pub async fn answer(admin: &Admin, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let runtime = &admin.runtime;
    if !authorized(&request, &admin.token) {
        let mut response = text(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer TOKEN` header is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let path: Vec<String> = request.uri().path().split('/').skip(1).map(str::to_owned).collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match (request.method(), path.as_slice()) {
        (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok"),
        (&Method::GET, ["metrics"]) => {
            let mut response = Response::new(Full::from(metrics::render(&runtime.routes())));
            let prometheus = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
            response.headers_mut().insert(header::CONTENT_TYPE, prometheus);
            response
        }
        (&Method::GET, ["v1", "components"]) => {
            json_response(StatusCode::OK, &json!({ "cities": components::cities(&runtime.routes()) }))
        }
        (&Method::GET, ["v1", "cluster"]) => match cluster::view(runtime).await {
            Ok(view) => json_response(StatusCode::OK, &view),
            Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &e.to_string()),
        },
        (&Method::GET, ["v1", "cities", city, "components", name, "versions"]) => {
            match cluster::versions(runtime, city, name).await {
                Ok(Some(history)) => json_response(StatusCode::OK, &history),
                Ok(None) => {
                    refused(StatusCode::NOT_FOUND, "not-found", &format!("no component `{name}` in city `{city}`"))
                }
                Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &e.to_string()),
            }
        }
        (&Method::PUT, ["v1", "cities", city, "components", name]) => {
            let (city, name) = (city.to_string(), name.to_string());
            let bytes = match Limited::new(request.into_body(), MAX_UPLOAD).collect().await {
                Ok(body) => body.to_bytes().to_vec(),
                Err(e) => return text(StatusCode::BAD_REQUEST, &format!("cannot read the component: {e}")),
            };
            let wasm = WasmFile::from_bytes(PathBuf::from("upload"), bytes);
            outcome(runtime.swap(&city, &name, wasm).await)
        }
        (&Method::POST, ["v1", "cities", city, "components", name, "rollback"]) => {
            outcome(runtime.roll_back(city, name).await)
        }
        (&Method::POST, ["v1", "reload"]) => match watch::reload(runtime, &admin.manifests).await {
            Ok(reloaded) => json_response(StatusCode::OK, &reloaded),
            Err(diagnostics) => refused(StatusCode::UNPROCESSABLE_ENTITY, "manifest", &diagnostics.to_string()),
        },
        _ => text(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

fn authorized<B>(request: &Request<B>, token: &str) -> bool {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    given.is_some_and(|given| bool::from(given.ct_eq(token.as_bytes())))
}

/// The answer to a swap or rollback.
fn outcome(result: Result<Arc<Version>, SwapError>) -> Response<Full<Bytes>> {
    match result {
        Ok(version) => json_response(StatusCode::OK, &components::version_view(&version)),
        Err(error) => {
            let (status, kind) = refusal(&error);
            refused(status, kind, &error.to_string())
        }
    }
}

/// The status and stable kind of a swap's or rollback's refusal.
pub fn refusal(error: &SwapError) -> (StatusCode, &'static str) {
    match error {
        SwapError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found"),
        SwapError::Refused(refusal) => (StatusCode::UNPROCESSABLE_ENTITY, refusal.kind()),
        SwapError::NoEarlierVersion { .. } => (StatusCode::CONFLICT, "no-earlier-version"),
        SwapError::Store(StoreError::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        SwapError::Store(StoreError::Failed(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
    }
}

fn refused(status: StatusCode, kind: &str, error: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "kind": kind, "error": error }))
}
