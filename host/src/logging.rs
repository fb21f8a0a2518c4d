//! What guests log lands in the host's log, tagged with their city and component: calls to
//! `wasi:logging`, and every line written to stdout or stderr (a Rust panic message, say).

use crate::store::StoreData;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/deps/logging",
        world: "wasi:logging/imports",
    });
}

use bindings::wasi::logging::logging::{Host, Level};

/// The longest log line kept from a guest; the rest is cut, so a guest cannot flood the log.
const MAX_LINE: usize = 4096;

/// Adds `wasi:logging` to the linker.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    bindings::wasi::logging::logging::add_to_linker::<_, HasSelf<StoreData>>(linker, |data| data)
}

// Guest code runs inside its request's span, which names the city and the component.
impl Host for StoreData {
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

/// A guest's stdout or stderr, turned into log lines.
pub struct GuestOutput {
    stream: &'static str,
}

impl GuestOutput {
    /// `stream` is `"stdout"` or `"stderr"`; stderr lines are logged as warnings.
    pub fn new(stream: &'static str) -> Self {
        Self { stream }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        // Called from the guest's own call, so the current span is its request's: keep it for the
        // lines, which are written from another task.
        Box::new(LineWriter { span: tracing::Span::current(), stream: self.stream, line: Vec::new() })
    }
}

/// Collects bytes into lines and logs each complete one.
struct LineWriter {
    span: tracing::Span,
    stream: &'static str,
    line: Vec<u8>,
}

impl LineWriter {
    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let level = if self.stream == "stderr" { Level::Warn } else { Level::Info };
        self.span.in_scope(|| emit(level, self.stream, truncate(text.trim_end())));
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.flush_line();
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flush_line();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_line();
    }
}
