//! One request: find its slot, run the component in a fresh store, turn every failure into a
//! status code and a log line that names the city and the component.

use crate::manifest::ComponentName;
use crate::runtime::Runtime;
use crate::slot::Slot;
use crate::store::new_store;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Routes and serves one request. Never fails: problems become 4xx/5xx answers.
///
/// Generic over the body so the benchmarks can drive it without a socket.
pub async fn handle<B>(runtime: &Runtime, request: Request<B>) -> Response<HyperOutgoingBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let started = Instant::now();
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(request.uri().host());
    let slot = match runtime.routes().route(host, request.uri().path()) {
        Ok(slot) => slot.clone(),
        Err(no_route) => {
            tracing::debug!(method = %request.method(), uri = %request.uri(), "{no_route}");
            return plain(StatusCode::NOT_FOUND, no_route.to_string());
        }
    };
    let span = tracing::info_span!(
        "request",
        city = %slot.city(),
        component = %slot.name(),
        method = %request.method(),
        path = %request.uri().path(),
    );
    let response = call(runtime, slot, request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    span.in_scope(|| tracing::info!(status, duration_ms, "served"));
    response
}

/// Runs the component's `wasi:http/incoming-handler` on a new instance.
async fn call<B>(runtime: &Runtime, slot: Arc<Slot>, request: Request<B>) -> Response<HyperOutgoingBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let name = slot.name().clone();
    let version = slot.loaded();
    let mut store = new_store(runtime.engine().wasmtime(), slot);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = match store.data_mut().http().new_incoming_request(Scheme::Http, request) {
        Ok(incoming) => incoming,
        Err(e) => return plain(StatusCode::BAD_REQUEST, format!("bad request: {e}")),
    };
    let outparam = match store.data_mut().http().new_response_outparam(sender) {
        Ok(outparam) => outparam,
        Err(e) => {
            return failure(&name, format!("cannot pass the response to the component: {e:#}"));
        }
    };

    // The guest runs in its own task: once it has set the response head it may keep streaming
    // the body after this function has returned the response to hyper.
    let guest = tokio::spawn(
        async move {
            let result = async {
                let proxy = version.proxy.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
            }
            .await;
            if let Err(e) = &result {
                tracing::error!("component failed: {}", e.root_cause());
                tracing::debug!("component failure in full: {e:?}");
            }
            result.is_ok()
        }
        .in_current_span(),
    );

    match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => failure(&name, format!("the component answered with error {code:?}")),
        // The guest dropped the response without setting it: find out why.
        Err(_) => match guest.await {
            Ok(true) => failure(&name, "the component returned without setting a response".into()),
            Ok(false) => internal_error(&name),
            Err(e) => failure(&name, format!("the component's task ended abnormally: {e}")),
        },
    }
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
