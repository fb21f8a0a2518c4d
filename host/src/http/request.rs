//! One request: find its slot, run the component in a fresh store, turn every failure into a
//! status code and a log line that names the city and the component.

use crate::http::router::City;
use crate::limits::{CpuShare, Limits};
use crate::link::{Callees, Cause, LinkError};
use crate::manifest::ComponentName;
use crate::runtime::Runtime;
use crate::slot::{Slot, Version};
use crate::store::new_store;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tokio::task::{AbortHandle, JoinHandle};
use tracing::{Instrument as _, Span};
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Routes and serves one request. Never fails: problems become 4xx/5xx answers.
///
/// Generic over the body so the benchmarks can drive it without a socket.
pub async fn handle<B>(runtime: &Arc<Runtime>, mut request: Request<B>) -> Response<HyperOutgoingBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let started = Instant::now();
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(request.uri().host());
    let routes = runtime.routes();
    let (city, prefix, slot) = match routes.route(host, request.uri().path()) {
        Ok((city, prefix, slot)) => (city.clone(), HeaderValue::from_str(prefix.as_str()), slot.clone()),
        Err(no_route) => {
            tracing::debug!(method = %request.method(), uri = %request.uri(), "{no_route}");
            return plain(StatusCode::NOT_FOUND, no_route.to_string());
        }
    };
    // Where the city mounted the component, so its own routes can be relative to it. The host
    // sets it; a client's value is never passed on.
    let mounted = HeaderName::from_static("x-forwarded-prefix");
    request.headers_mut().remove(&mounted);
    if let Ok(prefix) = prefix {
        request.headers_mut().insert(mounted, prefix);
    }
    let span = tracing::info_span!(
        "request",
        city = %slot.city(),
        component = %slot.name(),
        method = %request.method(),
        path = %request.uri().path(),
    );
    drop(routes);
    let version = slot.current();
    let response = call(runtime, &city, slot.clone(), version, request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    slot.stats().record(status, elapsed);
    let duration_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| tracing::info!(status, duration_ms, "served"));
    response
}

/// `GET path` on `version` in `slot`'s context, live or not yet: its status once the whole
/// answer has been read. How a swap checks a new version's health route.
pub async fn probe(runtime: &Arc<Runtime>, slot: Arc<Slot>, version: Arc<Version>, path: &str) -> StatusCode {
    let body = Empty::<Bytes>::new().map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
    let request = Request::get(path).header(header::HOST, "localhost").body(body).expect("a valid probe request");
    let span = tracing::info_span!("probe", city = %slot.city(), component = %slot.name(), path);
    let Some(city) = runtime.routes().cities().iter().find(|c| c.id == *slot.city()).cloned() else {
        return StatusCode::NOT_FOUND;
    };
    let response = call(runtime, &city, slot, version, request).instrument(span).await;
    let status = response.status();
    match response.into_body().collect().await {
        Ok(_) => status,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Runs `version`'s `wasi:http/incoming-handler` on a new instance, within the slot's limits.
async fn call<B>(
    runtime: &Arc<Runtime>,
    city: &Arc<City>,
    slot: Arc<Slot>,
    version: Arc<Version>,
    request: Request<B>,
) -> Response<HyperOutgoingBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let name = slot.name().clone();
    let limits = *slot.limits();
    let Some(running) = slot.try_start() else {
        tracing::warn!(max_concurrency = limits.max_concurrency, "too many requests at once; answering 503");
        return busy(name.as_str());
    };
    if declared_length(&request).is_some_and(|length| length > limits.max_body) {
        return too_large(limits.max_body);
    }
    let (request, body) = watch_body(request, limits.max_body);
    let deadline = Instant::now() + limits.timeout;
    let linked = !slot.links().is_empty();
    let mut store = match new_store(runtime.engine(), slot, CpuShare::new(deadline)) {
        Ok(store) => store,
        Err(e) => return failure(&name, format!("{e:#}")),
    };
    if linked {
        store.data_mut().callees = Some(Callees::new(runtime.clone(), city.clone()));
    }
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = match store.data_mut().http().new_incoming_request(Scheme::Http, request) {
        Ok(incoming) => incoming,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("bad request: {e}")),
    };
    let outparam = match store.data_mut().http().new_response_outparam(sender) {
        Ok(outparam) => outparam,
        Err(e) => return failure(&name, format!("cannot pass the response to the component: {e:#}")),
    };

    // The guest runs in its own task: once it has set the response head it may keep streaming
    // the body after this function has returned the response to hyper. The deadline covers the
    // whole run, host calls included; the task holds the concurrency permit until it ends.
    let guest = tokio::spawn(
        async move {
            let _running = running;
            let run = async {
                // Loading refuses a route or health path to a component without an HTTP export.
                let proxy = version.loaded.proxy.as_ref().ok_or_else(|| wasmtime::format_err!("no HTTP export"))?;
                let proxy = proxy.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
            };
            let ended = match tokio::time::timeout_at(deadline.into(), run).await {
                Ok(Ok(())) => GuestEnd::Returned,
                Ok(Err(e)) => GuestEnd::from_error(&e),
                Err(_) => GuestEnd::PastDeadline,
            };
            ended.log(&limits);
            ended
        }
        .in_current_span(),
    );
    let client_gone = StopIfDropped { guest: Some(guest.abort_handle()), span: Span::current() };

    let response = match tokio::time::timeout_at(deadline.into(), receiver).await {
        Ok(Ok(Ok(response))) => response.map(|body| GuardedBody { body, guest: Some(guest) }.boxed_unsync()),
        Ok(Ok(Err(code))) => failure(&name, format!("the component answered with error {code:?}")),
        // The guest dropped the response without setting it: find out why.
        Ok(Err(_)) => match guest.await {
            Ok(GuestEnd::Returned) => failure(&name, "the component returned without setting a response".into()),
            Ok(GuestEnd::PastDeadline) => past_deadline(&name, &limits, &body),
            Ok(GuestEnd::PoolExhausted) => busy(name.as_str()),
            Ok(GuestEnd::Failed) => internal_error(&name),
            Ok(GuestEnd::LinkFailed(callee)) => {
                plain(StatusCode::BAD_GATEWAY, format!("the `{callee}` service, which `{name}` relies on, failed"))
            }
            Ok(GuestEnd::LinkBusy(callee)) => busy(&callee),
            Err(e) => failure(&name, format!("the component's task ended abnormally: {e}")),
        },
        // The guest's own timer has the same deadline: let it end the run and log why.
        Err(_) => {
            let _ = guest.await;
            past_deadline(&name, &limits, &body)
        }
    };
    client_gone.disarm();
    match body.fault.get() {
        None => response,
        Some(BodyFault::TooLarge) => too_large(limits.max_body),
        Some(BodyFault::Broken(cause)) => {
            tracing::warn!("the request body broke off: {cause}; answering 400");
            plain(StatusCode::BAD_REQUEST, "the request body ended before it was complete".into())
        }
    }
}

/// Stops the guest when hyper drops the request before its answer is ready — the client closed
/// the connection — so an abandoned request gives back its concurrency place and instance at
/// once. (A client that closes in the middle of its body is answered 400 instead: the body fails
/// first.)
struct StopIfDropped {
    guest: Option<AbortHandle>,
    span: Span,
}

impl StopIfDropped {
    fn disarm(mut self) {
        self.guest = None;
    }
}

impl Drop for StopIfDropped {
    fn drop(&mut self) {
        if let Some(guest) = self.guest.take() {
            self.span.in_scope(|| tracing::warn!("the client went away before the answer; stopping the component"));
            guest.abort();
        }
    }
}

/// A response body that ends cleanly only if the guest did: a guest that fails (or runs out of
/// time) mid-body makes the body fail, so the client sees a broken answer, not a short one that
/// looks whole.
struct GuardedBody {
    body: HyperOutgoingBody,
    guest: Option<JoinHandle<GuestEnd>>,
}

impl Body for GuardedBody {
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
            Ok(GuestEnd::Returned) => Poll::Ready(None),
            _ => Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                "the component failed while sending the body".into(),
            ))))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How a guest's run ended.
enum GuestEnd {
    Returned,
    PastDeadline,
    PoolExhausted,
    Failed,
    /// A linked call failed; the component that failed.
    LinkFailed(String),
    /// A linked call found its callee busy; that component.
    LinkBusy(String),
}

impl GuestEnd {
    fn from_error(error: &wasmtime::Error) -> Self {
        if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            Self::PastDeadline
        } else if error.root_cause().downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
            Self::PoolExhausted
        } else if let Some(link) = error.downcast_ref::<LinkError>() {
            let busy = matches!(link.cause, Cause::Busy);
            tracing::error!(callee = %link.callee, "{link}; answering {}", if busy { 503 } else { 502 });
            if busy { Self::LinkBusy(link.callee.clone()) } else { Self::LinkFailed(link.callee.clone()) }
        } else {
            tracing::error!("component failed: {}", error.root_cause());
            tracing::debug!("component failure in full: {error:?}");
            Self::Failed
        }
    }

    fn log(&self, limits: &Limits) {
        match self {
            Self::PastDeadline => tracing::error!(timeout = ?limits.timeout, "component past its deadline"),
            Self::PoolExhausted => tracing::warn!("no free instance slot in the pool; answering 503"),
            Self::Returned | Self::Failed | Self::LinkFailed(_) | Self::LinkBusy(_) => {}
        }
    }
}

/// The body length the client declared, if it declared one.
fn declared_length<B>(request: &Request<B>) -> Option<u64> {
    request.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// What went wrong with a request body on the client's side.
enum BodyFault {
    /// It went past the component's `max_body`.
    TooLarge,
    /// The connection failed or ended before the body was complete.
    Broken(String),
}

/// What the host saw of a request body while the component read it, so that the answer blames
/// the client (413, 400, 408) when the body was the problem, whatever the component made of it.
#[derive(Default)]
struct BodyWatch {
    /// The first fault, if any.
    fault: OnceLock<BodyFault>,
    /// Whether the component is waiting for bytes the client has not sent.
    waiting: AtomicBool,
}

/// A request body cut off after `max` bytes and watched.
struct WatchedBody {
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
fn watch_body<B>(request: Request<B>, max: u64) -> (Request<WatchedBody>, Arc<BodyWatch>)
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

fn too_large(max: u64) -> Response<HyperOutgoingBody> {
    plain(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {max} bytes"))
}

/// 504, or 408 when the component was still waiting for the client's body.
fn past_deadline(component: &ComponentName, limits: &Limits, body: &BodyWatch) -> Response<HyperOutgoingBody> {
    let timeout = limits.timeout;
    if body.waiting.load(Ordering::Relaxed) {
        tracing::warn!(?timeout, "the client was still sending the request body at the deadline; answering 408");
        return plain(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {timeout:?}"));
    }
    plain(StatusCode::GATEWAY_TIMEOUT, format!("the `{component}` service took longer than {timeout:?}"))
}

fn busy(component: &str) -> Response<HyperOutgoingBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, format!("the `{component}` service is busy; try again"));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Logs `cause` and answers 500 without revealing it to the client.
fn failure(component: &ComponentName, cause: String) -> Response<HyperOutgoingBody> {
    tracing::error!("{cause}");
    internal_error(component)
}

fn internal_error(component: &ComponentName) -> Response<HyperOutgoingBody> {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the `{component}` service failed; the cause is in the host's log"),
    )
}

/// A short plain-text answer from the host itself.
fn plain(status: StatusCode, message: String) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(message + "\n")).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
