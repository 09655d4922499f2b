//! How every service accepts connections: TCP options, optional TLS, and
//! limits against abuse.
//!
//! [`incoming`] turns a bound listener into the stream of connections tonic
//! serves (and the gateway's metrics listener reads). Each connection gets
//! TCP_NODELAY (tonic applies its own `tcp_nodelay` only to listeners it binds
//! itself; without it a response's trailers wait ~40 ms for the peer's
//! delayed ACK) and TCP keepalive, then the TLS handshake when TLS is on (in
//! its own task, so a slow handshake never blocks the accept loop).
//!
//! The header timeout ([`LimitArgs::header_timeout_ms`]): a new connection
//! must finish its TLS handshake and then send either a complete HTTP/1.x
//! request head, or the HTTP/2 preface and its first frame, within the
//! bound; and every HTTP/2 frame a client starts must arrive whole within
//! the bound. Otherwise the connection is closed. So a client that connects
//! and sends nothing, or half a preface, half a header block or half a
//! frame, cannot hold a connection. [`HeadDetector`] follows the bytes read
//! to tell when something is pending. An HTTP/2 connection between frames
//! may stay idle (a gRPC client connects before its first call): HTTP/2
//! keepalive pings ([`server`]) close it when the peer stops answering,
//! and the stream limit bounds the work one connection can ask for.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::memory::LocalSlot;

/// Default bound for the TLS handshake plus the first request head, and
/// for any HTTP/2 frame once started.
pub(crate) const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Default HTTP/2 concurrent streams per connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 200;
/// Default interval of HTTP/2 keepalive pings.
pub(crate) const DEFAULT_KEEPALIVE_INTERVAL_SECS: u64 = 30;
/// Default wait for a keepalive ping's answer.
pub(crate) const DEFAULT_KEEPALIVE_TIMEOUT_SECS: u64 = 10;
/// Default largest request header list of one call, in bytes (HTTP/2
/// counting: name + value + 32 per field).
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 16 * 1024;
/// How many times [`LimitArgs::max_header_bytes`] HTTP/2 decodes before it
/// refuses a stream itself. Blocks up to that reach the service, which
/// refuses the call alone (the gateway: RESOURCE_EXHAUSTED); h2 answers a
/// larger one with 431 and a reset of that stream, and only a block over
/// 4 times this (h2's abuse bound) closes the connection. With hyper's
/// default (16 KiB, no margin) a 64 KiB block split into CONTINUATION
/// frames closed the whole connection (GOAWAY), and with it every other
/// call a multiplexing proxy had on it.
pub(crate) const HEADER_LIST_MARGIN: u32 = 4;

/// Limits of a listener: flags and `KNOTWORK_*` variables, the same on
/// every service.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Most concurrent HTTP/2 streams (calls) per connection, advertised in
    /// SETTINGS; a client opening more gets them refused.
    #[arg(
        long,
        env = "KNOTWORK_MAX_CONCURRENT_STREAMS",
        default_value_t = DEFAULT_MAX_CONCURRENT_STREAMS
    )]
    pub max_concurrent_streams: u32,

    /// Milliseconds a new connection has to finish the TLS handshake and send
    /// its first request head (HTTP/1.1) or the HTTP/2 preface and SETTINGS,
    /// and that any HTTP/2 frame, once started, has to arrive whole; a
    /// client that stalls longer is disconnected.
    #[arg(
        long,
        env = "KNOTWORK_HEADER_TIMEOUT_MS",
        default_value_t = DEFAULT_HEADER_TIMEOUT_MS
    )]
    pub header_timeout_ms: u64,

    /// Seconds between HTTP/2 keepalive pings to each client (0: none).
    #[arg(
        long,
        env = "KNOTWORK_KEEPALIVE_INTERVAL_SECS",
        default_value_t = DEFAULT_KEEPALIVE_INTERVAL_SECS
    )]
    pub keepalive_interval_secs: u64,

    /// Seconds to wait for a keepalive ping's answer before closing the
    /// connection.
    #[arg(
        long,
        env = "KNOTWORK_KEEPALIVE_TIMEOUT_SECS",
        default_value_t = DEFAULT_KEEPALIVE_TIMEOUT_SECS
    )]
    pub keepalive_timeout_secs: u64,

    /// Largest request header list of one call, in bytes (name + value +
    /// 32 per field, as HTTP/2 counts). The gateway refuses a call over it
    /// alone; HTTP/2 accepts blocks up to 4 times this so that an
    /// oversized one fails its own stream, never the connection.
    #[arg(
        long,
        env = "KNOTWORK_MAX_HEADER_BYTES",
        default_value_t = DEFAULT_MAX_HEADER_BYTES
    )]
    pub max_header_bytes: u32,
}

impl Default for LimitArgs {
    fn default() -> Self {
        Self {
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            header_timeout_ms: DEFAULT_HEADER_TIMEOUT_MS,
            keepalive_interval_secs: DEFAULT_KEEPALIVE_INTERVAL_SECS,
            keepalive_timeout_secs: DEFAULT_KEEPALIVE_TIMEOUT_SECS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

impl LimitArgs {
    fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }
}

/// A tonic server builder with the listener limits applied (streams per
/// connection, HTTP/2 keepalive, the header list size HTTP/2 decodes:
/// [`HEADER_LIST_MARGIN`] times the per-call limit). Services add their
/// own options and services to it and serve it with [`incoming`].
pub fn server(limits: &LimitArgs) -> tonic::transport::Server {
    let interval = (limits.keepalive_interval_secs > 0)
        .then(|| Duration::from_secs(limits.keepalive_interval_secs));
    tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams.max(1))
        .http2_keepalive_interval(interval)
        .http2_keepalive_timeout(Some(Duration::from_secs(
            limits.keepalive_timeout_secs.max(1),
        )))
        .http2_max_header_list_size(Some(
            limits
                .max_header_bytes
                .max(1024)
                .saturating_mul(HEADER_LIST_MARGIN),
        ))
}

/// The stream of accepted connections of `listener`, TLS-wrapped when
/// `tls` is set, each under the header timeout of `limits`. The listening
/// socket closes when the stream is dropped (tonic drops it on shutdown).
/// In-process callers do not connect: [`crate::serve_backend`] serves them.
pub fn incoming(
    listener: impl Into<Listener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &LimitArgs,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<Conn>> {
    let Listener { tcp, .. } = listener.into();
    let (tx, rx) = mpsc::channel(64);
    let header_timeout = limits.header_timeout();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(accept_loop(tcp, acceptor, header_timeout, tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// What a service listens on: a bound TCP listener and, in `knotwork up`,
/// the slot its in-process callers call through ([`crate::memory`]).
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    local: Option<LocalSlot>,
}

impl Listener {
    /// Also serves the in-process callers of `slot` ([`crate::memory`]).
    pub fn with_local(mut self, slot: LocalSlot) -> Self {
        self.local = Some(slot);
        self
    }

    /// The slot of the in-process callers, when there is one.
    pub(crate) fn local_slot(&self) -> Option<LocalSlot> {
        self.local.clone()
    }

    /// The TCP listener's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Self {
        Self { tcp, local: None }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    header_timeout: Duration,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // The server dropped the stream: stop listening.
            () = tx.closed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Per-connection failures (reset before accept) and resource
                // exhaustion (EMFILE) must not end the server: wait a moment
                // and accept again.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let deadline = Instant::now() + header_timeout;
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)));
        let info = TcpConnectInfo {
            local_addr: stream.local_addr().ok(),
            remote_addr: Some(peer),
        };
        match &acceptor {
            None => {
                let conn = Conn::new(Io::Plain(stream), info, deadline, header_timeout);
                if tx.send(Ok(conn)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let conn =
                                Conn::new(Io::Tls(Box::new(tls)), info, deadline, header_timeout);
                            let _ = tx.send(Ok(conn)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// One accepted connection (plain or TLS) under the header timeout.
pub struct Conn {
    io: Io,
    info: TcpConnectInfo,
    /// The header timeout's timer; it counts only while `armed` (the client
    /// is in the middle of something bounded). Reset, not reallocated, when
    /// a new frame starts.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
    timeout: Duration,
    head: HeadDetector,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.info.remote_addr)
            .field("tls", &matches!(self.io, Io::Tls(_)))
            .finish()
    }
}

impl Conn {
    fn new(io: Io, info: TcpConnectInfo, deadline: Instant, timeout: Duration) -> Self {
        Self {
            io,
            info,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            armed: true,
            timeout,
            head: HeadDetector::default(),
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// Whether the header timeout passed while something was pending.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.armed && self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client stalled past the header timeout",
    )
}

use std::future::Future as _;

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let Poll::Ready(Ok(())) = polled {
            let fresh = &buf.filled()[before..];
            if !fresh.is_empty() {
                this.head.feed(fresh);
                if !this.head.pending() {
                    this.armed = false;
                } else if !this.armed {
                    // A new frame started: it has the timeout to arrive whole.
                    this.deadline.as_mut().reset(Instant::now() + this.timeout);
                    this.armed = true;
                }
            }
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, data),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired(cx) {
            return Poll::Ready(Err(timed_out()));
        }
        match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connected for Conn {
    // The plain TCP info for TLS connections too, so `Request::remote_addr`
    // (the gateway's per-address rate limit) works either way.
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Tells, from the bytes a client sends, whether it is in the middle of
/// something the header timeout bounds: the HTTP/2 preface and the first
/// frame after it (the client's SETTINGS), any later HTTP/2 frame once
/// started, or the first HTTP/1.x header block. Between HTTP/2 frames, and
/// after the first HTTP/1.x head, nothing is pending (HTTP/2 keepalive and
/// hyper's own HTTP/1 header timeout take over). Fed the bytes in order,
/// in any chunks.
#[derive(Debug, Default)]
pub(crate) struct HeadDetector {
    state: HeadState,
}

#[derive(Debug)]
enum HeadState {
    /// Matching the HTTP/2 preface; `n` bytes matched so far.
    Sniff { n: usize },
    /// HTTP/1: whether the current line is empty so far.
    Http1 { line_empty: bool },
    /// HTTP/1 after the first head: no longer followed.
    Http1Done,
    /// HTTP/2 frames: a frame header being read (`have` bytes of 9), then
    /// `skip` payload bytes; `settled` once the first frame is complete.
    Frames {
        header: [u8; 9],
        have: usize,
        skip: usize,
        settled: bool,
    },
}

impl Default for HeadState {
    fn default() -> Self {
        HeadState::Sniff { n: 0 }
    }
}

impl HeadDetector {
    /// Feeds the next bytes the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                HeadState::Http1Done => return,
                HeadState::Sniff { n } => {
                    if bytes[0] == PREFACE[*n] {
                        *n += 1;
                        bytes = &bytes[1..];
                        if *n == PREFACE.len() {
                            self.state = HeadState::Frames {
                                header: [0; 9],
                                have: 0,
                                skip: 0,
                                settled: false,
                            };
                        }
                    } else {
                        // Not HTTP/2: replay what matched as HTTP/1 bytes.
                        let matched = *n;
                        self.state = HeadState::Http1 { line_empty: false };
                        self.feed_http1(&PREFACE[..matched]);
                    }
                }
                HeadState::Http1 { .. } => {
                    self.feed_http1(bytes);
                    return;
                }
                HeadState::Frames {
                    header,
                    have,
                    skip,
                    settled,
                } => {
                    if *have < 9 {
                        let take = (9 - *have).min(bytes.len());
                        header[*have..*have + take].copy_from_slice(&bytes[..take]);
                        *have += take;
                        bytes = &bytes[take..];
                        if *have == 9 {
                            *skip =
                                u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                        }
                    } else {
                        let take = (*skip).min(bytes.len());
                        *skip -= take;
                        bytes = &bytes[take..];
                    }
                    if *have == 9 && *skip == 0 {
                        *have = 0;
                        *settled = true;
                    }
                }
            }
        }
    }

    /// Whether the client is in the middle of something bounded.
    pub fn pending(&self) -> bool {
        match &self.state {
            HeadState::Sniff { .. } | HeadState::Http1 { .. } => true,
            HeadState::Http1Done => false,
            HeadState::Frames { have, settled, .. } => !*settled || *have > 0,
        }
    }

    fn feed_http1(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let HeadState::Http1 { line_empty } = &mut self.state else {
                return;
            };
            match b {
                b'\r' => {}
                b'\n' if *line_empty => {
                    self.state = HeadState::Http1Done;
                    return;
                }
                b'\n' => *line_empty = true,
                _ => *line_empty = false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f
    }

    /// Feeds `bytes` whole and byte by byte; both must agree with `pending`.
    #[track_caller]
    fn check(bytes: &[u8], pending: bool) {
        let mut whole = HeadDetector::default();
        whole.feed(bytes);
        assert_eq!(whole.pending(), pending, "whole");
        let mut split = HeadDetector::default();
        for b in bytes {
            split.feed(std::slice::from_ref(b));
        }
        assert_eq!(split.pending(), pending, "byte by byte");
    }

    #[test]
    fn http1_heads() {
        check(b"", true);
        check(b"POST /a HTTP/1.1\r\nhost: x\r\n", true);
        check(b"POST /a HTTP/1.1\r\nhost: x\r\n\r\n", false);
        check(b"POST /a HTTP/1.1\r\nhost: x\r\n\r\nbody", false);
        check(b"GET /metrics HTTP/1.1\nhost: x\n\n", false);
        check(b"POST /a HTTP/1.1\r\n", true);
        // A prefix of the HTTP/2 preface that turns into something else.
        check(b"PRI * HTTP/1.1\r\nx: y\r\n\r\n", false);
    }

    #[test]
    fn http2_frames() {
        let mut b = PREFACE.to_vec();
        check(&b[..10], true);
        check(&b, true); // the client's SETTINGS must follow
        b.extend(frame(6, 0x4, 0, 0));
        check(&b, true);
        b.extend_from_slice(&[0, 3, 0, 0, 0, 100]);
        check(&b, false); // settled, between frames: idle is fine
        let mut headers = b.clone();
        headers.extend(frame(3, 0x1, 0x4, 1));
        check(&headers, true); // payload not yet there
        headers.extend_from_slice(&[0x82, 0x86]);
        check(&headers, true);
        headers.push(0x84);
        check(&headers, false);
        headers.extend_from_slice(&frame(8, 0x6, 0, 0)[..4]);
        check(&headers, true); // half a frame header
    }
}
