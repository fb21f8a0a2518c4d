//! The public HTTP listener: accepts connections, serves each with hyper, hands every request to
//! [`handle`], and drains in-flight requests on shutdown.
//!
//! The layer above plugs in through [`Host`]: the route table it publishes and the sandbox the
//! requests run in.

mod answer;
mod body;
mod guest;
mod head;
mod request;
mod router;
mod slow_head;
mod well_known;

use head::MAX_HEAD_BYTES;
pub(crate) use request::{handle, probe};
pub(crate) use router::{City, Routes};

use crate::sandbox::Sandbox;
use arc_swap::Guard;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

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

/// How long requests in flight may take to finish once shutdown starts.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `host` on `listener` until `shutdown` resolves, then drains. Connections are dealt in
/// turn to `threads` serving threads, each a current-thread runtime that runs its connections and
/// their guests to the end, with no hand-over between threads on the way (on one core this
/// serves half as many requests again as a multi-thread runtime: BENCHMARKS.md §1). A client gets
/// `header_timeout` to send each request head; slower ones are answered 408 and disconnected.
pub(crate) async fn serve<H: Host>(
    listener: TcpListener,
    host: Arc<H>,
    header_timeout: Duration,
    threads: NonZeroUsize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut workers = Vec::with_capacity(threads.get());
    for index in 0..threads.get() {
        let (connections, receiver) = mpsc::unbounded_channel();
        let host = host.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name(format!("civic-http-{index}"))
            .spawn(move || runtime.block_on(serve_connections(receiver, host, header_timeout)))?;
        workers.push((connections, thread));
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        match stream.into_std() {
            Ok(stream) => {
                let _ = workers[next].0.send((stream, peer));
                next = (next + 1) % workers.len();
            }
            Err(e) => tracing::warn!(%peer, "cannot take the connection: {e}"),
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    // Closing its channel tells each thread to drain; wait for them off this runtime's threads.
    let threads: Vec<_> = workers.into_iter().map(|(_, thread)| thread).collect();
    let _ = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|thread| drop(thread.join()))).await;
    Ok(())
}

/// How both listeners speak HTTP/1.1: at most [`MAX_HEADERS`] header lines and about
/// [`MAX_HEAD_BYTES`] of head buffered (the exact bound is [`head`]'s), each head within
/// `header_timeout`, which also closes an idle keep-alive connection.
pub(crate) fn connection_builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(header_timeout);
    builder
}

/// The next connection on `listener`. A failure (out of file descriptors, usually) is logged
/// and waited out, longer each time it repeats, rather than tried again at once in a spin.
pub(crate) async fn accept(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    let mut pause = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("cannot accept a connection: {e}; trying again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One serving thread: serves every connection it is dealt until the channel closes, then
/// lets requests in flight finish for up to [`DRAIN_TIMEOUT`].
async fn serve_connections<H: Host>(
    mut dealt: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    host: Arc<H>,
    header_timeout: Duration,
) {
    let connections = GracefulShutdown::new();
    while let Some((stream, peer)) = dealt.recv().await {
        // Nagle's algorithm only delays small responses.
        let _ = stream.set_nodelay(true);
        let (stream, answer_408) = match slow_head::watch(stream, header_timeout) {
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
        let connection = connection_builder(header_timeout).serve_connection(TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if answer_408.sent() {
                    tracing::warn!(%peer, "the client took longer than {header_timeout:?} to send its request head; answered 408");
                } else {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
            }
        });
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
