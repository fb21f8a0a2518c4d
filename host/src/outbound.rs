//! Outgoing HTTP from guests (`wasi:http/outgoing-handler`): only to the origins the component's
//! manifest entry lists (`outbound = [...]`); every other request fails with
//! `HTTP-request-denied` and a log line. Allowed requests are sent by wasmtime's own client, and
//! the request's deadline covers them like any other host call.

use crate::manifest::Origin;
use crate::slot::Slot;
use http_body_util::BodyExt as _;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Decides, per instance, whether an outgoing request may leave the host.
pub struct Outbound {
    slot: Arc<Slot>,
}

impl Outbound {
    /// The policy for instances of `slot`'s component.
    pub fn new(slot: &Arc<Slot>) -> Self {
        Self { slot: slot.clone() }
    }
}

type ResponseFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let origin = Origin::of(request.uri());
        if !origin.as_ref().is_some_and(|origin| self.slot.outbound().contains(origin)) {
            let uri = request.uri();
            tracing::warn!(%uri, "outgoing request denied: its origin is not in the component's `outbound` list");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        tracing::debug!(uri = %request.uri(), "outgoing request");
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(|body| body.boxed_unsync()), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::Origin;

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let allowed = Origin::try_from("http://Registry.Local:9000".to_owned()).unwrap();
        let origin = |uri: &str| Origin::of(&uri.parse().unwrap());
        assert_eq!(origin("http://registry.local:9000/status?doc=1"), Some(allowed.clone()));
        assert_ne!(origin("https://registry.local:9000/"), Some(allowed.clone()));
        assert_ne!(origin("http://registry.local/"), Some(allowed));
        assert_eq!(origin("https://a.example/x"), Origin::try_from("https://a.example:443".to_owned()).ok());
        for bad in ["registry.local", "ftp://a.example", "http://a.example/path", "http://user@a.example"] {
            assert!(Origin::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
