//! The admin API, for machines: every request must carry `Authorization: Bearer TOKEN`
//! (compared in constant time).
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 `ok` while the host serves |
//! | `GET /metrics` | requests, errors, latency and swaps per component, requests per city (Prometheus); `?city=` per component of those cities |
//! | `GET /v1/cities` | the cities: id, name, hosts, how many components and how many failing (`?q=`, `?health=failing`) |
//! | `GET /v1/components` | every city's components: source, sha256, version, since, counts, health (`?health=failing`) |
//! | `GET /v1/cluster` | every host of the cluster and, per component, which version each serves (`?agree=false`) |
//! | `GET /v1/cities/{city}/components/{name}/versions` | its versions, newest first: who and when |
//! | `PUT /v1/cities/{city}/components/{name}` | swaps in the `.wasm` in the body |
//! | `POST /v1/cities/{city}/components/{name}/rollback` | puts the previous version back |
//! | `POST /v1/reload` | re-reads the manifests and applies the difference |
//!
//! The lists are paged and filtered alike ([`page`](super::page)): `?city=`, `?component=`,
//! `?limit=`, `?cursor=`, answering `{"items": [...], "next": …, "total": N}`.
//!
//! A refusal answers `{"kind": …, "error": …}`: `kind` is stable (`not-found`, `no-earlier-version`,
//! `manifest`, `query` (a list's parameters), or the check a version failed: `compile`, `imports`, `exports`, `links`, `health`, `pool`),
//! `error` says it in words.

use super::page::{Page, Query};
use super::{Admin, cluster, components, json_response, metrics, text};
use crate::http::Host as _;
use crate::manifest::WasmFile;
use crate::runtime::swap::SwapError;
use crate::runtime::watch;
use crate::sandbox::{RefusalKind, Version};
use bytes::Bytes;
use bytesize::ByteSize;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

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
            let query = request.uri().query().unwrap_or_default();
            let cities: Vec<String> = form_urlencoded::parse(query.as_bytes())
                .filter(|(name, _)| name == "city")
                .map(|(_, city)| city.into_owned())
                .collect();
            let routes = runtime.routes();
            let text = match cities.is_empty() {
                true => metrics::render(&routes),
                false => match metrics::render_cities(&routes, &cities) {
                    Ok(text) => text,
                    Err(e @ metrics::ScopeError::UnknownCity(_)) => return text(StatusCode::NOT_FOUND, &e.to_string()),
                    Err(e @ metrics::ScopeError::TooMany) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
                },
            };
            let mut response = Response::new(Full::from(text));
            let prometheus = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
            response.headers_mut().insert(header::CONTENT_TYPE, prometheus);
            response
        }
        (&Method::GET, ["v1", "cities"]) => {
            list(request.uri().query(), &["q", "health"], |query| components::list_cities(&runtime.routes(), query))
        }
        (&Method::GET, ["v1", "components"]) => {
            list(request.uri().query(), &["health"], |query| components::list(&runtime.routes(), query))
        }
        (&Method::GET, ["v1", "cluster"]) => {
            let query = match Query::parse(request.uri().query(), &["agree"]) {
                Ok(query) => query,
                Err(e) => return refused(StatusCode::BAD_REQUEST, "query", &e),
            };
            match cluster::view(runtime, &query).await {
                Ok(view) => json_response(StatusCode::OK, &view),
                Err(cluster::ViewError::Query(e)) => refused(StatusCode::BAD_REQUEST, "query", &e),
                Err(cluster::ViewError::Store(e)) => {
                    refused(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &e.to_string())
                }
            }
        }
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
            let bytes = match upload(request, admin.max_upload).await {
                Ok(bytes) => bytes,
                Err(refused) => return refused,
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

/// A page of a list, for the query string `query` (with the list's own `filters`).
fn list<T: serde::Serialize>(
    query: Option<&str>,
    filters: &[&str],
    page: impl FnOnce(&Query) -> Result<Page<T>, String>,
) -> Response<Full<Bytes>> {
    match Query::parse(query, filters).and_then(|query| page(&query)) {
        Ok(page) => json_response(StatusCode::OK, &page),
        Err(e) => refused(StatusCode::BAD_REQUEST, "query", &e),
    }
}

/// The component in `request`'s body, read into one buffer of at most `max` bytes: a larger
/// one is refused as soon as its `content-length` or its bytes say so.
async fn upload(request: Request<Incoming>, max: u64) -> Result<Bytes, Response<Full<Bytes>>> {
    let too_large = || {
        let message = format!("the component is larger than {}, the host's --max-upload", ByteSize(max));
        text(StatusCode::PAYLOAD_TOO_LARGE, &message)
    };
    let declared = request.body().size_hint().exact();
    if declared.is_some_and(|length| length > max) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| text(StatusCode::BAD_REQUEST, &format!("cannot read the component: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
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
fn refusal(error: &SwapError) -> (StatusCode, &'static str) {
    let kind = error.kind();
    let status = match kind {
        RefusalKind::NotFound => StatusCode::NOT_FOUND,
        RefusalKind::Compile
        | RefusalKind::Imports
        | RefusalKind::Exports
        | RefusalKind::Links
        | RefusalKind::Health
        | RefusalKind::Pool => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::NoEarlierVersion => StatusCode::CONFLICT,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        RefusalKind::Store => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, kind.name())
}

fn refused(status: StatusCode, kind: &str, error: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "kind": kind, "error": error }))
}
