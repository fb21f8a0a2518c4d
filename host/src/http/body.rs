//! Guards on the bodies that pass through the host: a request body cut off at the component's
//! `max_body` and watched, so the answer blames the client (413, 400, 408) when its body was
//! the problem; a response body that fails when its guest failed, so a client never mistakes a
//! truncated answer for a whole one.

use bytes::Bytes;
use http::{Request, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The body length the client declared, if it declared one.
pub fn declared_length<B>(request: &Request<B>) -> Option<u64> {
    request.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// What went wrong with a request body on the client's side.
pub enum BodyFault {
    /// It went past the component's `max_body`.
    TooLarge,
    /// The connection failed or ended before the body was complete.
    Broken(String),
}

/// What the host saw of a request body while the component read it.
#[derive(Default)]
pub struct BodyWatch {
    /// The first fault, if any.
    pub fault: OnceLock<BodyFault>,
    /// Whether the component is waiting for bytes the client has not sent.
    waiting: AtomicBool,
}

impl BodyWatch {
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A request body cut off after `max` bytes and watched.
pub struct WatchedBody {
    body: Limited<UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>>,
    watch: Arc<BodyWatch>,
    max: u64,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        self.watch.waiting.store(polled.is_pending(), Ordering::Relaxed);
        let error = match ready!(polled) {
            Some(Err(error)) => error,
            Some(Ok(frame)) => return Poll::Ready(Some(Ok(frame))),
            None => return Poll::Ready(None),
        };
        let error = match error.downcast::<wasmtime_wasi_http::Error>() {
            Ok(broken) => {
                let _ = self.watch.fault.set(BodyFault::Broken(broken.to_string()));
                *broken
            }
            Err(_) => {
                let _ = self.watch.fault.set(BodyFault::TooLarge);
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.max))
            }
        };
        Poll::Ready(Some(Err(error)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Wraps the request's body in a [`WatchedBody`] allowing `max` bytes.
pub fn watch_body<B>(request: Request<B>, max: u64) -> (Request<WatchedBody>, Arc<BodyWatch>)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let watch = Arc::new(BodyWatch::default());
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let request = request.map(|body| WatchedBody {
        body: Limited::new(body.map_err(Into::into).boxed_unsync(), limit),
        watch: watch.clone(),
        max,
    });
    (request, watch)
}

/// A response body that says when it is done — read to its end, failed, or dropped by hyper — so
/// the event loop that produces it knows when to stop.
pub struct UntilSent {
    body: HyperOutgoingBody,
    done: Option<oneshot::Sender<()>>,
}

impl UntilSent {
    pub fn new(body: HyperOutgoingBody, done: oneshot::Sender<()>) -> Self {
        Self { body, done: Some(done) }
    }
}

impl Body for UntilSent {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = ready!(Pin::new(&mut self.body).poll_frame(cx));
        if !matches!(polled, Some(Ok(_))) {
            self.done.take();
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that ends cleanly only if the guest did: a guest that fails (or runs out of
/// time) mid-body makes the body fail.
pub struct GuardedBody<E> {
    pub body: HyperOutgoingBody,
    /// The guest's task, and whether its outcome is a clean end.
    pub guest: Option<JoinHandle<E>>,
    pub clean: fn(&E) -> bool,
}

impl<E: Send + 'static> Body for GuardedBody<E> {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            return Poll::Ready(Some(frame));
        }
        let Some(guest) = self.guest.as_mut() else { return Poll::Ready(None) };
        let ended = ready!(Pin::new(guest).poll(cx));
        self.guest = None;
        match ended {
            Ok(end) if (self.clean)(&end) => Poll::Ready(None),
            _ => Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                "the component failed while sending the body".into(),
            ))))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
