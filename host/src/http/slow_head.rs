//! Clients that send their request head too slowly (slowloris) get a 408 before the connection
//! closes. hyper enforces the time limit (`header_read_timeout`) but closes without a word; this
//! adds the answer, for clients that had begun a request — an idle keep-alive connection that
//! times out is closed quietly, so a client reusing it never mistakes a 408 for its answer.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 39\r\nconnection: close\r\n\r\nthe request head took too long to send\n";

/// The connection as hyper sees it, noting whether a request has begun but not been answered.
pub struct Watched {
    stream: TcpStream,
    mid_request: Arc<AtomicBool>,
}

/// What can still answer the client after hyper has given up on the connection.
pub struct Answer408 {
    socket: std::net::TcpStream,
    mid_request: Arc<AtomicBool>,
}

/// Splits an accepted connection into hyper's side, on the runtime this is called on, and the
/// 408 side (a duplicate handle).
pub fn watch(stream: std::net::TcpStream) -> std::io::Result<(Watched, Answer408)> {
    let socket = stream.try_clone()?;
    let mid_request = Arc::new(AtomicBool::new(false));
    let watched = Watched { stream: TcpStream::from_std(stream)?, mid_request: mid_request.clone() };
    Ok((watched, Answer408 { socket, mid_request }))
}

impl Answer408 {
    /// Answers 408 if hyper ended the connection with `error` because a begun head was too slow.
    pub fn after(self, error: &hyper::Error) -> bool {
        if !error.is_timeout() || !self.mid_request.load(Ordering::Relaxed) {
            return false;
        }
        // The socket is non-blocking; a 200-byte answer fits its send buffer, or is dropped.
        let _ = (&self.socket).write_all(REQUEST_TIMEOUT);
        true
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.mid_request.store(true, Ordering::Relaxed);
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
    fn answered(&self, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.mid_request.store(false, Ordering::Relaxed);
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
