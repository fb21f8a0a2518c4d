//! Handing a request to an instance's HTTP handler, of the WASI release its component was built
//! for, and how that run ended. Everything around it — routing, budgets, the answer a failure
//! becomes — is the same for both releases and lives in [`request`](super::request).

use super::body::{UntilSent, WatchedBody};
use crate::limits::Limits;
use crate::link::Cause;
use crate::sandbox::{Busy, Failure, Handler, Instance};
use http::{Request, Response};
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::Service;

/// What the component answered: the head of its response (the body follows), or the error code
/// it answered with instead.
pub type Answer = Result<Response<HyperOutgoingBody>, String>;

/// How a guest's run ended.
pub enum GuestEnd {
    Returned,
    /// The request could not be handed to the component (no authority, say).
    BadRequest(String),
    Failed(Failure),
}

impl GuestEnd {
    /// Logged as the run ends, even when the answer's head went out long before.
    pub fn log(&self, limits: &Limits) {
        let Self::Failed(failure) = self else { return };
        match failure {
            Failure::PastDeadline => tracing::error!(timeout = ?limits.timeout, "component past its deadline"),
            Failure::Busy(Busy::Concurrency) => {
                tracing::warn!(max_concurrency = limits.max_concurrency, "too many requests at once; answering 503")
            }
            Failure::Busy(Busy::Pool) => tracing::warn!("no free instance slot in the pool; answering 503"),
            Failure::Link(link) => {
                let status = if matches!(link.cause, Cause::Busy) { 503 } else { 502 };
                tracing::error!(callee = %link.callee, "{link}; answering {status}");
            }
            Failure::Trap(error) => {
                tracing::error!("component failed: {}", error.root_cause());
                tracing::debug!("component failure in full: {error:?}");
            }
            Failure::Setup(cause) => tracing::error!("{cause}"),
        }
    }
}

/// Runs `request` on `instance`, sending the answer on `answer` as soon as the component gives
/// it; returns when the component is done, which may be after the whole body went out.
pub async fn run(
    mut instance: Instance,
    request: Request<WatchedBody>,
    answer: oneshot::Sender<Answer>,
) -> Result<GuestEnd, Failure> {
    match instance.http_handler().map_err(Failure::of)? {
        Handler::P2(proxy) => wasip2(instance, proxy, request, answer).await,
        Handler::P3(service) => wasip3(instance, service, request, answer).await,
    }
}

/// `wasi:http/incoming-handler@0.2`: the component sets its answer through an out-parameter and
/// writes the body from the same call.
async fn wasip2(
    mut instance: Instance,
    proxy: Proxy,
    request: Request<WatchedBody>,
    answer: oneshot::Sender<Answer>,
) -> Result<GuestEnd, Failure> {
    let data = instance.store.data_mut();
    let incoming = match data.http().new_incoming_request(Scheme::Http, request) {
        Ok(incoming) => incoming,
        Err(e) => return Ok(GuestEnd::BadRequest(format!("{e:#}"))),
    };
    let outparam = data
        .http()
        .new_response_outparam_from_callback(move |answered| {
            let _ = answer.send(answered.map_err(|code| format!("{code:?}")));
        })
        .map_err(Failure::of)?;
    let handler = proxy.wasi_http_incoming_handler();
    handler.call_handle(&mut instance.store, incoming, outparam).await.map_err(Failure::of)?;
    Ok(GuestEnd::Returned)
}

/// `wasi:http/handler@0.3`: the component returns its answer, whose body is a stream its own
/// tasks keep writing. The store's event loop moves that stream to hyper, so it runs until hyper
/// has taken the whole body or dropped it; the request body reaches the component the same way,
/// frame by frame, under the same limit.
async fn wasip3(
    mut instance: Instance,
    service: Service,
    request: Request<WatchedBody>,
    answer: oneshot::Sender<Answer>,
) -> Result<GuestEnd, Failure> {
    let hooks = instance.store.data_mut().http().hooks;
    let (request, request_sent) = wasmtime_wasi_http::p3::Request::from_http(hooks, request);
    let ran = instance
        .store
        .run_concurrent(async move |store| {
            let response = match service.handle(store, request).await? {
                Ok(response) => response,
                Err(code) => {
                    let _ = answer.send(Err(format!("{code:?}")));
                    return Ok(());
                }
            };
            let response = store.with(|mut store| response.into_http(&mut store, request_sent))?;
            let (sent, body_done) = oneshot::channel();
            let _ = answer.send(Ok(response.map(|body| UntilSent::new(body, sent).boxed_unsync())));
            let _ = body_done.await;
            wasmtime::Result::Ok(())
        })
        .await;
    ran.and_then(|ran| ran).map_err(Failure::of)?;
    Ok(GuestEnd::Returned)
}
