//! In-process connections, for `knotwork up`: the gateway calls the catalog
//! and session services in the same process through in-memory pipes
//! (`tokio::io::duplex`) instead of loopback TCP.
//!
//! Only the transport changes: a [`MemoryConnector`] is the tower connector
//! tonic's `Endpoint::connect_with_connector_lazy` dials with, and the
//! matching [`MemoryListener`] joins the service's TCP listener in
//! [`crate::listen::Listener`], so the server sees one more connection
//! carrying the same HTTP/2 and the same gRPC calls, through the same
//! layers, handlers and limits as over TCP. The separate-process
//! deployment and the tests use the TCP path alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Bytes buffered in each direction of one in-memory connection (like a
/// socket buffer: a writer waits when the reader is this far behind).
const PIPE_BYTES: usize = 256 * 1024;

/// A pair: what a server accepts and what clients dial.
pub fn pair() -> (MemoryListener, MemoryConnector) {
    let (tx, rx) = mpsc::channel(64);
    (MemoryListener { rx }, MemoryConnector { tx })
}

/// The server end: in-memory connections, as they are dialled.
#[derive(Debug)]
pub struct MemoryListener {
    rx: mpsc::Receiver<DuplexStream>,
}

impl MemoryListener {
    /// The next connection; `None` once every connector is gone.
    pub async fn accept(&mut self) -> Option<DuplexStream> {
        self.rx.recv().await
    }
}

/// The client end: each call of the tower service opens one connection to
/// the matching [`MemoryListener`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    tx: mpsc::Sender<DuplexStream>,
}

impl tower::Service<http::Uri> for MemoryConnector {
    type Response = TokioIo<DuplexStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let tx = self.tx.clone();
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(PIPE_BYTES);
            tx.send(server).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "the in-process service has stopped",
                )
            })?;
            Ok(TokioIo::new(client))
        })
    }
}

/// In-process backends by URL: a client whose backend URL is listed here
/// dials it in memory, any other over the network.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackends {
    by_url: BTreeMap<String, MemoryConnector>,
}

impl MemoryBackends {
    /// Adds `url`, served in this process behind `connector`.
    pub fn insert(&mut self, url: impl Into<String>, connector: MemoryConnector) {
        self.by_url.insert(url.into(), connector);
    }

    /// The connector of `url`, when it is served in this process.
    pub fn get(&self, url: &str) -> Option<&MemoryConnector> {
        self.by_url.get(url)
    }

    /// Whether no backend is in memory.
    pub fn is_empty(&self) -> bool {
        self.by_url.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::Service;

    #[tokio::test]
    async fn a_dialled_connection_reaches_the_listener() {
        let (mut listener, mut connector) = pair();
        let dialled = connector.call(http::Uri::from_static("http://in-process"));
        let (client, server) = tokio::join!(dialled, listener.accept());
        let mut client = client.unwrap().into_inner();
        let mut server = server.unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        // A listener that is gone refuses the next dial.
        drop(listener);
        drop(server);
        let refused = connector
            .call(http::Uri::from_static("http://in-process"))
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }
}
