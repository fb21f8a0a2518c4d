//! The operators' listener (`civic run --admin ADDR`), on only with a token: the admin API for
//! machines ([`api`], a bearer token on every request) and the console for people ([`console`],
//! signed in with the same token). [`components`] and [`cluster`] are what both show.

mod api;
mod cluster;
mod components;
mod console;
mod metrics;
mod page;

use crate::http as front;
use crate::registry::{CatalogScope, Registry};
use crate::runtime::Runtime;
use crate::runtime::manifests::Manifests;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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
    /// The largest component uploaded, through the API or the console.
    pub max_upload: u64,
}

/// The most connections the admin listener holds at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 256;

/// Serves the admin API and the console on `listener` until `stop` changes, then lets requests
/// in flight finish. A client gets `header_timeout` to send each request head, as on the public
/// listener; an idle connection is closed after as long.
pub(crate) async fn serve(
    listener: TcpListener,
    admin: Admin,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let admin = Arc::new(admin);
    let console = Arc::new(console::Console::default());
    let connections = GracefulShutdown::new();
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (place, (stream, peer)) = tokio::select! {
            accepted = async { (places.clone().acquire_owned().await, front::accept(&listener).await) } => accepted,
            _ = stop.changed() => break,
        };
        let Ok(place) = place else { break };
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
        let connection = front::connection_builder(header_timeout).serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "admin connection ended: {e}");
            }
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(front::DRAIN_TIMEOUT, connections.shutdown()).await.is_err() {
        tracing::warn!("admin requests still in flight after {:?}; stopping anyway", front::DRAIN_TIMEOUT);
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let body =
        serde_json::to_string(value).expect("views are maps of strings and numbers, which JSON always holds") + "\n";
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
