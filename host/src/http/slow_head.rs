//! Clients that send their request head too slowly (slowloris) get a 408 before the connection
//! closes. hyper enforces the time limit (`header_read_timeout`) but closes without a word; this
//! adds the answer, for clients that had begun a request — an idle keep-alive connection that
//! times out is closed quietly, so a client reusing it never mistakes a 408 for its answer.
//!
//! The answer is written when hyper drops the connection, on the connection's own socket (one
//! file descriptor per connection, however many are open).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 39\r\nconnection: close\r\n\r\nthe request head took too long to send\n";

/// The connection as hyper sees it, noting when a request began that is not answered yet.
pub struct Watched {
    stream: TcpStream,
    header_timeout: Duration,
    /// When the first byte of the request being read arrived; `None` once it is answered.
    begun: Option<Instant>,
    answered_408: Arc<AtomicBool>,
}

/// Whether a connection ended with a 408.
pub struct Answer408(Arc<AtomicBool>);

/// Wraps an accepted connection for hyper, on the runtime this is called on.
pub fn watch(stream: std::net::TcpStream, header_timeout: Duration) -> std::io::Result<(Watched, Answer408)> {
    stream.set_nonblocking(true)?;
    let answered_408 = Arc::new(AtomicBool::new(false));
    let stream = TcpStream::from_std(stream)?;
    let watched = Watched { stream, header_timeout, begun: None, answered_408: answered_408.clone() };
    Ok((watched, Answer408(answered_408)))
}

impl Answer408 {
    /// Whether the client was answered 408 as its connection closed.
    pub fn sent(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Watched {
    /// hyper gives up on a head that took `header_timeout`: tell the client why.
    fn drop(&mut self) {
        if self.begun.is_some_and(|begun| begun.elapsed() >= self.header_timeout) {
            // The socket is non-blocking; a 200-byte answer fits its send buffer, or is dropped.
            let sent = self.stream.try_write(REQUEST_TIMEOUT).is_ok();
            self.answered_408.store(sent, Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before && self.begun.is_none() {
            self.begun = Some(Instant::now());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.answered(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.answered(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Watched {
    /// Writing means answering: whatever was read so far has been dealt with.
    fn answered(&mut self, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.begun = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::REQUEST_TIMEOUT;

    #[test]
    fn the_408_declares_its_true_length() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{text}");
    }
}
