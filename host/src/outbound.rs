//! Outgoing HTTP from guests (`wasi:http/outgoing-handler`): denied by default.

use crate::slot::Slot;
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
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        tracing::warn!(
            city = %self.slot.city(),
            component = %self.slot.name(),
            uri = %request.uri(),
            "outgoing request denied: no outbound origin is allowed"
        );
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}
