//! The operators' API, on its own listener (`civic run --admin ADDR`) and only with a token:
//! every request must carry `Authorization: Bearer TOKEN` (compared in constant time).
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 `ok` while the host serves |
//! | `GET /metrics` | requests, errors, latency and swaps per city and component (Prometheus) |
//! | `GET /v1/components` | every city's components: source, sha256, version, since, counts |
//! | `GET /v1/cluster` | every host of the cluster and, per component, which version each serves |
//! | `GET /v1/cities/{city}/components/{name}/versions` | its versions, newest first: who and when |
//! | `PUT /v1/cities/{city}/components/{name}` | swaps in the `.wasm` in the body |
//! | `POST /v1/cities/{city}/components/{name}/rollback` | puts the previous version back |
//! | `POST /v1/reload` | re-reads the manifests and applies the difference |
//!
//! A refusal answers `{"kind": …, "error": …}`: `kind` is stable (`not-found`, `no-earlier-version`,
//! `manifest`, or the check a version failed: `compile`, `imports`, `exports`, `links`, `health`),
//! `error` says it in words.

mod cluster;
mod metrics;

use crate::http::Host as _;
use crate::runtime::Runtime;
use crate::runtime::swap::SwapError;
use crate::runtime::watch::{self, Manifests};
use crate::sandbox::{Slot, Version};
use crate::state::StoreError;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;

/// The largest component an operator may upload.
const MAX_UPLOAD: usize = 256 << 20;

/// What the admin API works on.
pub(crate) struct Admin {
    pub runtime: Arc<Runtime>,
    /// The bearer token every request must carry.
    pub token: String,
    /// What `POST /v1/reload` reads again.
    pub manifests: Arc<Manifests>,
}

/// Serves the admin API on `listener` for as long as the host runs.
pub(crate) async fn serve(listener: TcpListener, admin: Admin) {
    let admin = Arc::new(admin);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let admin = admin.clone();
        let service = service_fn(move |request| {
            let admin = admin.clone();
            async move { Ok::<_, Infallible>(answer(&admin, request).await) }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

async fn answer(admin: &Admin, request: Request<Incoming>) -> Response<Full<Bytes>> {
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
        (&Method::GET, ["v1", "components"]) => json_response(StatusCode::OK, components(runtime)),
        (&Method::GET, ["v1", "cluster"]) => match cluster::view(runtime).await {
            Ok(view) => json_response(StatusCode::OK, view),
            Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &e.to_string()),
        },
        (&Method::GET, ["v1", "cities", city, "components", name, "versions"]) => {
            match cluster::versions(runtime, city, name).await {
                Ok(Some(versions)) => json_response(StatusCode::OK, versions),
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
            outcome(runtime.swap(&city, &name, bytes).await)
        }
        (&Method::POST, ["v1", "cities", city, "components", name, "rollback"]) => {
            outcome(runtime.roll_back(city, name).await)
        }
        (&Method::POST, ["v1", "reload"]) => match watch::reload(runtime, &admin.manifests).await {
            Ok(reloaded) => json_response(StatusCode::OK, json!(reloaded)),
            Err(diagnostics) => refused(StatusCode::UNPROCESSABLE_ENTITY, "manifest", &diagnostics.to_string()),
        },
        _ => text(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

fn authorized<B>(request: &Request<B>, token: &str) -> bool {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    given.is_some_and(|given| bool::from(given.ct_eq(token.as_bytes())))
}

fn outcome(result: Result<Arc<Version>, SwapError>) -> Response<Full<Bytes>> {
    let error = match result {
        Ok(version) => return json_response(StatusCode::OK, version_json(&version)),
        Err(error) => error,
    };
    let (status, kind) = match &error {
        SwapError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found"),
        SwapError::Refused(refusal) => (StatusCode::UNPROCESSABLE_ENTITY, refusal.kind()),
        SwapError::NoEarlierVersion { .. } => (StatusCode::CONFLICT, "no-earlier-version"),
        SwapError::Store(StoreError::Unavailable(_)) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        SwapError::Store(StoreError::Failed(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
    };
    refused(status, kind, &error.to_string())
}

fn refused(status: StatusCode, kind: &str, error: &str) -> Response<Full<Bytes>> {
    json_response(status, json!({ "kind": kind, "error": error }))
}

/// `GET /v1/components`.
fn components(runtime: &Runtime) -> Value {
    let routes = runtime.routes();
    let cities: Vec<Value> = routes
        .cities()
        .iter()
        .map(|city| {
            let components: Vec<Value> = city.slots.values().map(|slot| slot_json(slot)).collect();
            json!({ "id": city.id.as_str(), "name": city.name, "components": components })
        })
        .collect();
    json!({ "cities": cities })
}

fn slot_json(slot: &Slot) -> Value {
    let mut value = version_json(&slot.current());
    value["name"] = json!(slot.name().as_str());
    let stats = slot.stats().snapshot();
    value["requests"] = json!(stats.requests);
    value["errors"] = json!(stats.errors);
    value["previous"] = slot.previous().map_or(Value::Null, |previous| version_json(&previous));
    let links = slot.grants().links().links().iter();
    let links: serde_json::Map<_, _> =
        links.map(|(contract, link)| (contract.to_string(), json!(link.component.as_str()))).collect();
    value["links"] = Value::Object(links);
    value
}

fn version_json(version: &Version) -> Value {
    json!({
        "version": version.number,
        "sha256": version.prepared.digest.to_string(),
        "source": version.prepared.source.display().to_string(),
        "loaded_at": cluster::rfc3339(version.since),
    })
}

fn json_response(status: StatusCode, value: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(value.to_string() + "\n"));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
