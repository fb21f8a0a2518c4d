//! `wasi:http` for guests: its types, and outgoing requests (`wasi:http/outgoing-handler`, and
//! `wasi:http/client` of 0.3) only to the origins the component's manifest entry lists
//! (`outbound = [...]`). Every other request fails with `HTTP-request-denied` and a log line. Allowed requests are sent by wasmtime's own
//! client, and the request's deadline covers them like any other host call.

use crate::manifest::Origin;
use http_body_util::BodyExt as _;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

/// The origins a component may send requests to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant(Arc<[Origin]>);

impl Grant {
    pub fn new(origins: &[Origin]) -> Self {
        Self(origins.into())
    }

    /// The hooks through which an instance's outgoing requests pass.
    pub fn policy(&self) -> Policy {
        Policy(self.0.clone())
    }
}

/// Decides, per request, whether it may leave the host.
pub struct Policy(Arc<[Origin]>);

/// `wasi:http` 0.2, and 0.3 beside it when `wasip3`. Both send through [`Policy`].
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>, wasip3: bool) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    if wasip3 {
        wasmtime_wasi_http::p3::add_to_linker(linker)?;
    }
    Ok(())
}

type ResponseFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

impl WasiHttpHooks for Policy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let origin = Origin::of(request.uri());
        if !origin.as_ref().is_some_and(|origin| self.0.contains(origin)) {
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
