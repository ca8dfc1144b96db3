//! The socket under one HTTP connection, guarded: it closes a connection idle (no request in
//! flight, no byte either way) for `idle`, and when it is dropped it closes the way nginx's
//! lingering close does: send FIN, then read and discard what the client still sends for a
//! bounded time and size, so a client that writes a whole refused body before reading gets its
//! 413 instead of a reset. The connection-cap permit is released only once that is over.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// How long and how much a closing connection keeps reading.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    pub time: Duration,
    pub bytes: u64,
}

/// Requests (and their response bodies) in flight on one connection; the idle timer runs only
/// at zero.
#[derive(Default)]
pub struct InFlight(AtomicUsize);

impl InFlight {
    pub fn start(self: &Arc<Self>) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.0.load(Ordering::Acquire) == 0
    }
}

pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until hyper has sent it all
/// (a server-sent-event stream may be quiet for a while without being idle).
pub struct TrackedBody<B> {
    body: B,
    _guard: InFlightGuard,
}

impl<B> TrackedBody<B> {
    pub fn new(body: B, guard: InFlightGuard) -> Self {
        Self {
            body,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

pub struct GuardedIo {
    stream: Option<TcpStream>,
    idle: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
    in_flight: Arc<InFlight>,
    linger: Linger,
    permit: Option<OwnedSemaphorePermit>,
}

impl GuardedIo {
    pub fn new(
        stream: TcpStream,
        idle: Duration,
        in_flight: Arc<InFlight>,
        linger: Linger,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        let now = Instant::now();
        Self {
            stream: Some(stream),
            idle,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            in_flight,
            linger,
            permit: Some(permit),
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// After a read found nothing: an error once the connection has been idle too long.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.in_flight.is_idle() {
            return Poll::Pending;
        }
        let deadline = self.last_activity + self.idle;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match this.stream()?.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = this.stream()?.poll_write(cx, data);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.last_activity = Instant::now();
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = this.stream()?.poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.last_activity = Instant::now();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream()?.poll_shutdown(cx)
    }
}

impl Drop for GuardedIo {
    fn drop(&mut self) {
        let (Some(stream), Ok(runtime)) =
            (self.stream.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let permit = self.permit.take();
        runtime.spawn(linger_close(stream, self.linger, permit));
    }
}

/// Sends FIN, then discards what the client still sends until it closes, `linger.time` passes
/// or `linger.bytes` were read; only then is the socket closed (and the permit released).
pub async fn linger_close<P: Send>(mut stream: TcpStream, linger: Linger, permit: P) {
    let _permit = permit;
    let drain = async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 8192];
        let mut total = 0u64;
        while total < linger.bytes {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
    };
    let _ = tokio::time::timeout(linger.time, drain).await;
}
