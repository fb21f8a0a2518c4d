//! Log lines that land in the host's log, tagged with the city and the component, through the
//! standard `wasi:logging` interface. (Anything printed to stdout or stderr lands there too.)
//!
//! ```no_run
//! civic_sdk::log::info("application received");
//! ```

use crate::__private::bindings::wasi::logging::logging::{Level, log};

/// The host already tags every line with the city and the component; no extra context is needed.
const CONTEXT: &str = "";

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, CONTEXT, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, CONTEXT, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, CONTEXT, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, CONTEXT, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, CONTEXT, message);
}
