//! What guests log lands in the host's log, under the span of the request they serve (which
//! names the city and the component): calls to `wasi:logging`, and what they write to stdout and
//! stderr, one record per line.
//!
//! Output is gathered per instance, however many stream handles the guest opens on the way
//! (Rust's `print!` opens one per call): a line written in pieces is one record, flushed at its
//! newline or when the instance ends. A line is cut at [`MAX_LINE`], so a guest cannot grow the
//! host's memory by never ending one.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use tracing::Span;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/deps/logging",
        world: "wasi:logging/imports",
    });
}

use bindings::wasi::logging::logging::{Host, Level};

/// The longest log line kept from a guest; the rest of the line is dropped.
const MAX_LINE: usize = 4096;

/// Adds `wasi:logging`; it needs nothing from the store.
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    bindings::wasi::logging::logging::add_to_linker::<T, HasLog>(linker, |_| GuestLog)
}

struct GuestLog;

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = GuestLog;
}

impl Host for GuestLog {
    fn log(&mut self, level: Level, context: String, message: String) {
        emit(level, &context, truncate(&message));
    }
}

fn emit(level: Level, context: &str, message: &str) {
    macro_rules! at {
        ($level:ident) => {
            if context.is_empty() {
                tracing::$level!(target: "civic::guest", "{message}")
            } else {
                tracing::$level!(target: "civic::guest", context, "{message}")
            }
        };
    }
    match level {
        Level::Trace => at!(trace),
        Level::Debug => at!(debug),
        Level::Info => at!(info),
        Level::Warn => at!(warn),
        Level::Error | Level::Critical => at!(error),
    }
}

fn truncate(message: &str) -> &str {
    if message.len() <= MAX_LINE {
        return message;
    }
    let mut end = MAX_LINE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// One instance's stdout or stderr.
#[derive(Clone)]
pub struct GuestOutput(Arc<Mutex<Lines>>);

impl GuestOutput {
    /// Stdout, logged at info; lines go under the current span, the request's.
    pub fn stdout() -> Self {
        Self::new("stdout", Level::Info)
    }

    /// Stderr, logged as warnings.
    pub fn stderr() -> Self {
        Self::new("stderr", Level::Warn)
    }

    fn new(stream: &'static str, level: Level) -> Self {
        Self(Arc::new(Mutex::new(Lines { span: Span::current(), stream, level, pending: Vec::new() })))
    }

    fn push(&self, bytes: &[u8]) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(bytes);
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Writes never wait: a line is logged or kept in memory at once.
#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The line being written, logged when it ends or when the instance does.
struct Lines {
    span: Span,
    stream: &'static str,
    level: Level,
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.append(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.append(bytes);
    }

    fn append(&mut self, piece: &[u8]) {
        let room = MAX_LINE - self.pending.len();
        self.pending.extend_from_slice(&piece[..piece.len().min(room)]);
    }

    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.pending);
        self.span.in_scope(|| emit(self.level, self.stream, text.trim_end()));
        self.pending.clear();
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}
