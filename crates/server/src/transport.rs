//! Limits of the gRPC transport: what keeps one connection or one call from holding the server's
//! resources forever.
//!
//! - HTTP/2 keepalive: the server pings every connection and closes one whose ping goes
//!   unanswered, so a device whose network vanished (no FIN, no RST) does not keep its calls, and
//!   the upload lock they hold, alive.
//! - TCP keepalive on accepted sockets, for the same reason below HTTP/2.
//! - `max_concurrent_streams` per connection: an HTTP/2 client queues calls over it; a client
//!   that ignores the setting gets `REFUSED_STREAM`.
//! - [`CallLimitsLayer`]: a deadline on unary calls (never on streaming calls, whose length is
//!   the recording's), and an idle timeout on every request body, which ends a call whose client
//!   stopped sending without closing its side.
//!
//! This module sees only HTTP/2 framing and method paths: it must never decode a message.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message as _;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_layer::Layer;

use crate::config::ServerConfig;
use crate::error::{Result, ServerError};

/// The tonic server builder with the configured HTTP/2 keepalive and streams per connection.
pub fn server_builder(config: &ServerConfig) -> Server {
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_millis(
            config.http2_keepalive_interval_ms,
        )))
        .http2_keepalive_timeout(Some(Duration::from_millis(
            config.http2_keepalive_timeout_ms,
        )))
        .max_concurrent_streams(config.max_concurrent_streams)
}

/// Accepted connections of `listener`, with TCP keepalive and without Nagle's delay (acks are
/// small and latency matters more than packet count).
pub fn incoming(listener: tokio::net::TcpListener, config: &ServerConfig) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_millis(config.tcp_keepalive_ms)))
}

/// Paths (`/package.Service/Method`) of the unary methods the server offers, read from the
/// compiled-in descriptor sets: only these get the request timeout.
fn unary_paths() -> Result<HashSet<String>> {
    let mut paths = HashSet::new();
    for encoded in [
        auscult_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let set = prost_types::FileDescriptorSet::decode(encoded)
            .map_err(|e| ServerError::Internal(format!("descriptor set: {e}")))?;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    if !method.client_streaming() && !method.server_streaming() {
                        paths.insert(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
    }
    Ok(paths)
}

#[derive(Debug)]
struct Limits {
    unary: HashSet<String>,
    request_timeout: Duration,
    idle_timeout: Duration,
}

/// Puts the request timeout on unary calls and the idle timeout on every request body.
#[derive(Debug, Clone)]
pub struct CallLimitsLayer {
    limits: Arc<Limits>,
}

impl CallLimitsLayer {
    /// The limits of `config`.
    pub fn new(config: &ServerConfig) -> Result<CallLimitsLayer> {
        Ok(CallLimitsLayer {
            limits: Arc::new(Limits {
                unary: unary_paths()?,
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                idle_timeout: config.stream_idle_timeout(),
            }),
        })
    }
}

impl<S> Layer<S> for CallLimitsLayer {
    type Service = CallLimits<S>;

    fn layer(&self, inner: S) -> CallLimits<S> {
        CallLimits {
            inner,
            limits: Arc::clone(&self.limits),
        }
    }
}

/// The service of [`CallLimitsLayer`].
#[derive(Debug, Clone)]
pub struct CallLimits<S> {
    inner: S,
    limits: Arc<Limits>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ResBody> Service<http::Request<Body>> for CallLimits<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<std::result::Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let unary = self.limits.unary.contains(request.uri().path());
        let idle = self.limits.idle_timeout;
        let request = request.map(|body| {
            if http_body::Body::is_end_stream(&body) {
                body
            } else {
                Body::new(IdleBody::new(body, idle))
            }
        });
        let call = self.inner.call(request);
        if !unary {
            return Box::pin(call);
        }
        let limit = self.limits.request_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(response) => response,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call took longer than the server's request timeout ({} ms)",
                    limit.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// A request body that fails with `DEADLINE_EXCEEDED` when its client sends nothing for the idle
/// timeout while the server is waiting for it. Only time spent waiting counts: a server busy with
/// the previous message does not make its client idle.
struct IdleBody {
    inner: Body,
    idle: Duration,
    /// Running while the server waits for the next frame; `None` while it is not waiting.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IdleBody {
    fn new(inner: Body, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            waiting: None,
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Status>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return Poll::Ready(frame);
        }
        let idle = this.idle;
        let timer = this
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                "no message from the client for {} ms (the server's stream idle timeout)",
                idle.as_millis()
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unary_methods_get_the_request_timeout() {
        let paths = unary_paths().expect("the compiled-in descriptor sets decode");
        assert!(paths.contains("/auscult.v1.IngestService/GetUploadStatus"));
        assert!(paths.contains("/auscult.v1.AdminService/CreateTenant"));
        assert!(paths.contains("/grpc.health.v1.Health/Check"));
        assert!(!paths.contains("/auscult.v1.IngestService/Upload"));
        assert!(!paths.contains("/auscult.v1.IngestService/UploadWithAcks"));
        assert!(!paths.contains("/auscult.v1.ReviewService/GetAudio"));
        assert!(!paths.contains("/auscult.v1.VitalsService/IngestVitals"));
        assert!(!paths.contains("/grpc.health.v1.Health/Watch"));
    }
}
