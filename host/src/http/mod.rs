//! The public HTTP listener: accepts connections, serves each with hyper, hands every request to
//! [`handle`], and drains in-flight requests on shutdown.
//!
//! The layer above plugs in through [`Host`]: the route table it publishes and the sandbox the
//! requests run in.

mod answer;
mod body;
mod request;
mod router;
mod slow_head;
mod well_known;

pub(crate) use request::{handle, probe};
pub(crate) use router::{City, Routes};

use crate::sandbox::Sandbox;
use arc_swap::Guard;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What the HTTP front serves.
pub(crate) trait Host: Send + Sync + 'static {
    /// The route table as of now. Hold it briefly: it pins the table it was read from.
    fn routes(&self) -> Guard<Arc<Routes>>;

    fn sandbox(&self) -> &Sandbox;

    /// Whether the host should be sent requests: `Err` with the reason when not.
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// The most header lines a request may have; more answers 431.
const MAX_HEADERS: usize = 100;

/// The most bytes of request head buffered at once; a longer head answers 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long requests in flight may take to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `host` on `listener` until `shutdown` resolves, then drains. A client gets
/// `header_timeout` to send each request head; slower ones are answered 408 and disconnected.
pub(crate) async fn serve<H: Host>(
    listener: TcpListener,
    host: Arc<H>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Nagle's algorithm only delays small responses.
        let _ = stream.set_nodelay(true);
        let (stream, answer_408) = match slow_head::watch(stream) {
            Ok(watched) => watched,
            Err(e) => {
                tracing::warn!(%peer, "cannot take the connection: {e}");
                continue;
            }
        };
        let host = host.clone();
        let service = service_fn(move |request| {
            let host = host.clone();
            async move { Ok::<_, Infallible>(handle(&*host, request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .max_headers(MAX_HEADERS)
            .max_buf_size(MAX_HEAD_BYTES)
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if answer_408.after(&e) {
                    tracing::warn!(%peer, "the client took longer than {header_timeout:?} to send its request head; answered 408");
                } else {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
