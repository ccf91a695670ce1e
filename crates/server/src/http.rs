//! The customers' HTTP listener, with limits a slow or idle client can't outlast: a deadline for
//! each request's headers (which also closes a silent or idle keep-alive connection, since hyper
//! starts it whenever it waits for a request), a deadline for each request's body, and a cap on
//! open connections (past it, new ones wait in the kernel's backlog instead of using up file
//! descriptors). Shutdown stops accepting and lets requests in flight finish. (The deadline for a
//! request's whole handling is the router's: `sesame_web::error::deadline`.)
//!
//! HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which the reverse proxy in front of Sesame
//! terminates, and protocol detection would wait for a silent client's first bytes unbounded.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long a client may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// For a request's headers, and for the next request on an idle keep-alive connection.
    pub header_read: Duration,
    /// For a request's body, from its headers to its last byte.
    pub body_read: Duration,
    pub max_connections: usize,
    /// How long requests in flight may still run once shutdown begins.
    pub drain: Duration,
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    // Around the router as a whole: `Router::layer` would box it around every route.
    let service = tower_http::timeout::RequestBodyTimeout::new(router, limits.body_read);
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // The connections' tasks, so that the drain deadline can end those still running.
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Forget the connections that ended (bounded by `max_connections` anyway).
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: wait a moment
                    // rather than spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, %peer, "connection ended");
            }
            drop(permit);
        });
    }
    // New connections are refused from here; open ones finish the request they carry (hyper
    // answers it with `Connection: close`) and idle ones close.
    drop(listener);
    tracing::info!(
        deadline_secs = limits.drain.as_secs(),
        "stopping: finishing the requests in flight"
    );
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            deadline_secs = limits.drain.as_secs(),
            "requests still running at the drain deadline were cut"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
}
