//! The operators' listener (`civic run --admin ADDR`), on only with a token: the admin API for
//! machines ([`api`], a bearer token on every request) and the console for people ([`console`],
//! signed in with the same token). [`components`] and [`cluster`] are what both show.

mod api;
mod cluster;
mod components;
mod console;
mod metrics;

use crate::registry::{CatalogScope, Registry};
use crate::runtime::Runtime;
use crate::runtime::watch::Manifests;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What the operators' listener works on.
pub(crate) struct Admin {
    pub runtime: Arc<Runtime>,
    /// The token every API request carries, and the console's sign-in takes.
    pub token: String,
    /// What `POST /v1/reload` reads again.
    pub manifests: Arc<Manifests>,
    /// Where a swap by reference pulls from.
    pub registry: Arc<Registry>,
    /// What the console's catalogue lists.
    pub catalog: Vec<CatalogScope>,
}

/// Serves the admin API and the console on `listener` for as long as the host runs.
pub(crate) async fn serve(listener: TcpListener, admin: Admin) {
    let admin = Arc::new(admin);
    let console = Arc::new(console::Console::default());
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        let (admin, console) = (admin.clone(), console.clone());
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let (admin, console) = (admin.clone(), console.clone());
            async move {
                let response = if api::serves(request.uri().path()) {
                    api::answer(&admin, request).await
                } else {
                    console.answer(&admin, request, peer.ip()).await
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_string(value).expect("a view serialises") + "\n";
    with_type(status, body, "application/json")
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    with_type(status, format!("{message}\n"), "text/plain; charset=utf-8")
}

fn with_type(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
