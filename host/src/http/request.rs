//! One request, the place where it is routed: find its slot, run the component in a fresh
//! instance, turn every failure into a status code and a log line that names the city and the
//! component.

use super::answer::{bad_gateway, busy, failure, internal_error, past_deadline, plain, too_large};
use super::body::{BodyFault, GuardedBody, declared_length, watch_body};
use super::guest::{self, GuestEnd};
use super::{Host, head, well_known};
use crate::limits::CpuShare;
use crate::link::Cause;
use crate::manifest::RoutePath;
use crate::sandbox::{Chain, Failure, Instance, Sandbox, Slot, Slots, Version};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Body;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::AbortHandle;
use tracing::{Instrument as _, Span};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Routes and serves one request. Never fails: problems become 4xx/5xx answers.
///
/// Generic over the body so the benchmarks can drive it without a socket.
pub async fn handle<H: Host, B>(host: &H, mut request: Request<B>) -> Response<HyperOutgoingBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let started = Instant::now();
    let named = match head::host(&request) {
        Ok(named) => named,
        Err(bad) => {
            tracing::debug!(method = %request.method(), uri = %request.uri(), "{bad}");
            return plain(bad.status(), bad.to_string());
        }
    };
    if let Some(answer) = well_known::answer(host, request.uri().path()).await {
        return answer;
    }
    let routes = host.routes();
    let (slots, prefix, slot) = match routes.route(named, request.uri().path()) {
        Ok((city, prefix, slot)) => (city.slots.clone(), HeaderValue::from_str(prefix.as_str()), slot.clone()),
        Err(no_route) => {
            tracing::debug!(method = %request.method(), uri = %request.uri(), "{no_route}");
            return plain(StatusCode::NOT_FOUND, no_route.to_string());
        }
    };
    drop(routes);
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
    let version = slot.current();
    let response = run_handler(host.sandbox(), slots, slot.clone(), version, request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    slot.stats().record(status, elapsed);
    let duration_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| tracing::info!(status, duration_ms, "served"));
    response
}

/// `GET path` on `version` in `slot`'s context, live or not yet: its status, and whether the whole
/// answer could be read. How a swap checks a new version's health route.
pub async fn probe<H: Host>(host: &H, slot: Arc<Slot>, version: Arc<Version>, path: &RoutePath) -> (StatusCode, bool) {
    let body = Empty::<Bytes>::new().map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
    // Built from parts that are valid by their types: a route path is a URI's path.
    let mut request = Request::new(body);
    *request.uri_mut() = path.uri();
    request.headers_mut().insert(header::HOST, HeaderValue::from_static("localhost"));
    let span = tracing::info_span!("probe", city = %slot.city(), component = %slot.name(), path = %path);
    let Some(city) = host.routes().cities().iter().find(|c| c.id == *slot.city()).cloned() else {
        return (StatusCode::NOT_FOUND, true);
    };
    let response = run_handler(host.sandbox(), city.slots.clone(), slot, version, request).instrument(span).await;
    let status = response.status();
    (status, response.into_body().collect().await.is_ok())
}

/// Runs `version`'s `wasi:http/incoming-handler` on a new instance, within the slot's limits;
/// `slots` are its city's, for its links.
async fn run_handler<B>(
    sandbox: &Sandbox,
    slots: Arc<Slots>,
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
    if declared_length(&request).is_some_and(|length| length > limits.max_body) {
        return too_large(limits.max_body);
    }
    let (request, body) = watch_body(request, limits.max_body);
    let deadline = Instant::now() + limits.timeout;
    let cpu = CpuShare::new(deadline, sandbox.turns());
    let callees = (!slot.grants().links().is_empty()).then(|| Chain::for_request(sandbox.engine(), slots, cpu.clone()));
    let engine = sandbox.engine().clone();
    let (sender, receiver) = tokio::sync::oneshot::channel();

    // The guest runs in its own task: once it has set the response head it may keep streaming
    // the body after this function has returned the response to hyper. The deadline covers the
    // whole run, host calls included; the task holds the instance, and so its place, until it ends.
    let guest = tokio::spawn(
        async move {
            let run = async {
                let instance = Instance::start(&engine, slot, version, cpu, callees, true).await?;
                guest::run(instance, request, sender).await
            };
            let ended = match tokio::time::timeout_at(deadline.into(), run).await {
                Ok(Ok(ended)) => ended,
                Ok(Err(failure)) => GuestEnd::Failed(failure),
                Err(_) => GuestEnd::Failed(Failure::PastDeadline),
            };
            ended.log(&limits);
            ended
        }
        .in_current_span(),
    );
    let client_gone = StopIfDropped { guest: Some(guest.abort_handle()), span: Span::current() };

    let response = match tokio::time::timeout_at(deadline.into(), receiver).await {
        Ok(Ok(Ok(response))) => response.map(|body| {
            GuardedBody { body, guest: Some(guest), clean: |end| matches!(end, GuestEnd::Returned) }.boxed_unsync()
        }),
        Ok(Ok(Err(code))) => failure(&name, format!("the component answered with error {code}")),
        // The guest dropped the response without setting it: find out why.
        Ok(Err(_)) => match guest.await {
            Ok(GuestEnd::Returned) => failure(&name, "the component returned without setting a response".into()),
            Ok(GuestEnd::BadRequest(reason)) => plain(StatusCode::BAD_REQUEST, format!("bad request: {reason}")),
            Ok(GuestEnd::Failed(Failure::PastDeadline)) => past_deadline(&name, &limits, &body),
            Ok(GuestEnd::Failed(Failure::Busy(_))) => busy(name.as_str()),
            Ok(GuestEnd::Failed(Failure::Link(link))) => match link.cause {
                Cause::Busy => busy(&link.callee),
                _ => bad_gateway(&name, &link.callee),
            },
            Ok(GuestEnd::Failed(Failure::Trap(_) | Failure::Setup(_))) => internal_error(&name),
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
