//! The API's HTTP server: hyper serving poem's endpoint, with the bounds poem's own server
//! does not set. A connection that is not in a request is watched: once a request's first
//! byte has arrived its headers must be complete within the header timeout, and a kept-
//! alive connection without a request is closed after the idle timeout. At most
//! `max_connections` are open; at the limit, a new connection takes the place of the one
//! that has waited longest outside a request (one sending its headers slowly, or idle),
//! so held half-sent requests cannot starve `/readyz` or real callers of connections or
//! of file descriptors. When every connection is in a request, the new one is refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub use crate::config::ConnectionLimits;

/// What the watchdog knows of one connection.
struct Watch {
    /// Requests in flight on it.
    busy: AtomicU32,
    /// Milliseconds since the server's start when it was last left without a request.
    idle_since: AtomicU64,
    /// When the first byte after that arrived, plus one (0: none yet).
    first_byte: AtomicU64,
    /// Closes it.
    close: CancellationToken,
}

/// Open connections, for the watchdog and for eviction at the limit.
struct Connections {
    started: Instant,
    open: Mutex<HashMap<u64, Arc<Watch>>>,
}

impl Connections {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a connection, making room at the limit; `None` when every open
    /// connection is in a request.
    fn admit(&self, id: u64, limits: &ConnectionLimits) -> Option<Arc<Watch>> {
        let mut open = self.open.lock().expect("connections lock");
        if open.len() >= limits.max_connections {
            let longest_waiting = open
                .iter()
                .filter(|(_, watch)| watch.busy.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, watch)| watch.idle_since.load(Ordering::Relaxed))
                .map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&longest_waiting) {
                evicted.close.cancel();
            }
        }
        let watch = Arc::new(Watch {
            busy: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.now()),
            first_byte: AtomicU64::new(0),
            close: CancellationToken::new(),
        });
        open.insert(id, watch.clone());
        Some(watch)
    }

    fn remove(&self, id: u64) {
        self.open.lock().expect("connections lock").remove(&id);
    }

    /// Closes every connection outside a request past its bound.
    fn sweep(&self, limits: &ConnectionLimits) {
        let now = self.now();
        let header = limits.header_timeout.as_millis() as u64;
        let idle = limits.idle_timeout.as_millis() as u64;
        let open = self.open.lock().expect("connections lock");
        for watch in open.values() {
            if watch.busy.load(Ordering::Relaxed) > 0 {
                continue;
            }
            let first_byte = watch.first_byte.load(Ordering::Relaxed);
            let overdue = if first_byte > 0 {
                now.saturating_sub(first_byte - 1) > header
            } else {
                now.saturating_sub(watch.idle_since.load(Ordering::Relaxed)) > idle
            };
            if overdue {
                watch.close.cancel();
            }
        }
    }
}

/// A connection's socket, noting when a byte arrives outside a request.
struct Watched {
    socket: TcpStream,
    watch: Arc<Watch>,
    connections: Arc<Connections>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if buf.filled().len() > before
            && self.watch.busy.load(Ordering::Relaxed) == 0
            && self.watch.first_byte.load(Ordering::Relaxed) == 0
        {
            let now = self.connections.now() + 1;
            self.watch.first_byte.store(now, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// Serves `endpoint` on `listener` until `shutdown`, then lets requests in flight finish
/// for up to `grace`.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let endpoint: Arc<BoxEndpoint<'static>> = Arc::new(endpoint.map_to_response().boxed());
    let local: Addr = Addr::SocketAddr(listener.local_addr()?);
    let connections = Arc::new(Connections {
        started: Instant::now(),
        open: Mutex::new(HashMap::new()),
    });
    let stopping = CancellationToken::new();
    let watchdog = {
        let connections = connections.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopping.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => connections.sweep(&limits),
                }
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (socket, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: give connections time to close.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        next_id += 1;
        let Some(watch) = connections.admit(next_id, &limits) else {
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let id = next_id;
        let connection = Connection {
            endpoint: endpoint.clone(),
            local: local.clone(),
            remote,
            watch,
            connections: connections.clone(),
            stopping: stopping.clone(),
            limits,
        };
        tasks.spawn(async move {
            connection.serve(socket).await;
            connection.connections.remove(id);
        });
        // Reap finished connection tasks as we go.
        while tasks.try_join_next().is_some() {}
    }
    stopping.cancel();
    watchdog.abort();
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    Ok(())
}

/// One accepted connection.
struct Connection {
    endpoint: Arc<BoxEndpoint<'static>>,
    local: Addr,
    remote: SocketAddr,
    watch: Arc<Watch>,
    connections: Arc<Connections>,
    stopping: CancellationToken,
    limits: ConnectionLimits,
}

impl Connection {
    async fn serve(&self, socket: TcpStream) {
        let watched = Watched {
            socket,
            watch: self.watch.clone(),
            connections: self.connections.clone(),
        };
        let service = hyper::service::service_fn({
            let endpoint = self.endpoint.clone();
            let local = self.local.clone();
            let remote = Addr::SocketAddr(self.remote);
            let watch = self.watch.clone();
            let connections = self.connections.clone();
            move |request: hyper::Request<Incoming>| {
                let endpoint = endpoint.clone();
                let local = local.clone();
                let remote = remote.clone();
                let watch = watch.clone();
                let connections = connections.clone();
                async move {
                    watch.busy.fetch_add(1, Ordering::Relaxed);
                    watch.first_byte.store(0, Ordering::Relaxed);
                    let request = poem::Request::from((
                        request,
                        LocalAddr(local),
                        RemoteAddr(remote),
                        Scheme::HTTP,
                    ));
                    let response = endpoint.get_response(request).await.into_response();
                    watch.idle_since.store(connections.now(), Ordering::Relaxed);
                    watch.busy.fetch_sub(1, Ordering::Relaxed);
                    Ok::<_, Infallible>(hyper::Response::<_>::from(response))
                }
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_headers(super::request_limits::SERVER_MAX_HEADERS);
        let connection = builder.serve_connection(TokioIo::new(watched), service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = self.watch.close.cancelled() => return,
            _ = self.stopping.cancelled() => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            max_connections,
        }
    }

    fn connections() -> Connections {
        Connections {
            started: Instant::now(),
            open: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn at_the_limit_the_longest_waiting_connection_makes_room() {
        let open = connections();
        let limits = limits(2);
        let oldest = open.admit(1, &limits).unwrap();
        oldest.idle_since.store(0, Ordering::Relaxed);
        let newer = open.admit(2, &limits).unwrap();
        newer.idle_since.store(5, Ordering::Relaxed);
        let third = open.admit(3, &limits);
        assert!(third.is_some());
        assert!(oldest.close.is_cancelled(), "the longest waiting went");
        assert!(!newer.close.is_cancelled());
    }

    #[test]
    fn connections_in_requests_are_never_evicted() {
        let open = connections();
        let limits = limits(1);
        let busy = open.admit(1, &limits).unwrap();
        busy.busy.store(1, Ordering::Relaxed);
        assert!(open.admit(2, &limits).is_none(), "the newcomer is refused");
        assert!(!busy.close.is_cancelled());
    }

    #[test]
    fn the_sweep_closes_slow_headers_and_idle_connections_only() {
        // A server that has run for 10 s.
        let open = Connections {
            started: Instant::now() - Duration::from_secs(10),
            open: Mutex::new(HashMap::new()),
        };
        let limits = limits(10);
        let [slow, idle, busy, fresh] = [1, 2, 3, 4].map(|id| open.admit(id, &limits).unwrap());
        let now = open.now();
        for watch in [&slow, &idle, &busy] {
            watch.idle_since.store(now - 9_000, Ordering::Relaxed);
        }
        fresh.idle_since.store(now - 1_000, Ordering::Relaxed);
        // `slow` got its first byte 1.5 s ago; `busy` is in a request.
        slow.first_byte.store(now - 1_500 + 1, Ordering::Relaxed);
        busy.busy.store(1, Ordering::Relaxed);
        open.sweep(&limits);
        assert!(slow.close.is_cancelled(), "headers not complete within 1 s");
        assert!(idle.close.is_cancelled(), "idle for longer than 2 s");
        assert!(!busy.close.is_cancelled(), "in a request");
        assert!(!fresh.close.is_cancelled(), "idle for 1 s only");
    }
}
