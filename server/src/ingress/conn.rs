//! Guards against slow and greedy clients, below and around the router:
//! - a cap on open connections (`--max-connections`): one more is answered 503 + `Retry-After`
//!   and closed, without reading it;
//! - a header-read timeout (`--header-timeout-ms`): a connection that does not finish its
//!   request head in time (slowloris, or an idle keep-alive) is closed;
//! - a body-read guard (`--body-timeout-ms`, `--min-body-rate`): after a short grace the body
//!   must keep arriving at a minimum average rate and finish within the timeout, else 408;
//! - a whole-request timeout on every route (the request timeout plus a margin), 504 past it;
//!   a streamed answer (SSE) is bounded by its own idle timeout instead, once its head is sent;
//! - optional per-client rate limiting (`--rate-limit`), by IP or API key, with `tower_governor`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::ingress::budget::Lease;
use crate::metrics::METRICS;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Most connections open at once (`--max-connections`).
    pub max_connections: usize,
    /// Longest a client may take to send a request head (`--header-timeout-ms`).
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive (`--body-timeout-ms`).
    pub body_timeout: Duration,
    /// Slowest average body rate allowed after the first [`BODY_GRACE`], bytes/s
    /// (`--min-body-rate`).
    pub min_body_rate: u64,
    /// Longest a streamed answer may go without sending anything (`--stream-idle-timeout-ms`).
    pub stream_idle_timeout: Duration,
    /// Per-client rate limit (`--rate-limit`); `None`: off.
    pub rate_limit: Option<RateLimit>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            min_body_rate: 16 * 1024,
            stream_idle_timeout: Duration::from_secs(30),
            rate_limit: None,
        }
    }
}

/// Requests a client may make: a steady `per_second` with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
    pub key: RateKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The peer's IP address.
    Ip,
    /// The `Authorization` bearer key, else the peer's IP.
    ApiKey,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `10/s`, `10/s,burst=20`, `600/min,key=api-key`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',').map(str::trim);
        let rate = parts.next().unwrap_or_default();
        let (n, unit) = rate.split_once('/').unwrap_or((rate, "s"));
        let n: f64 = n
            .parse()
            .map_err(|_| format!("'{rate}' is not a rate like 10/s or 600/min"))?;
        let per_second = match unit {
            "s" | "sec" | "second" => n,
            "m" | "min" | "minute" => n / 60.0,
            "h" | "hour" => n / 3600.0,
            other => return Err(format!("unknown rate unit '{other}' (s, min, hour)")),
        };
        if per_second <= 0.0 || !per_second.is_finite() {
            return Err("the rate must be above 0".into());
        }
        let mut limit = RateLimit {
            per_second,
            burst: (per_second.ceil() as u32).max(1),
            key: RateKey::Ip,
        };
        for p in parts {
            match p.split_once('=') {
                Some(("burst", v)) => {
                    limit.burst = v
                        .parse()
                        .ok()
                        .filter(|&b| b > 0)
                        .ok_or_else(|| format!("burst '{v}' is not a whole number above 0"))?
                }
                Some(("key", "ip")) => limit.key = RateKey::Ip,
                Some(("key", "api-key")) => limit.key = RateKey::ApiKey,
                _ => {
                    return Err(format!(
                        "unknown rate-limit option '{p}' (burst=N, key=ip|api-key)"
                    ))
                }
            }
        }
        Ok(limit)
    }
}

/// The key `tower_governor` counts requests under.
#[derive(Debug, Clone, Copy)]
pub struct ClientKey(RateKey);

impl tower_governor::key_extractor::KeyExtractor for ClientKey {
    type Key = String;

    fn extract<T>(
        &self,
        req: &axum::http::Request<T>,
    ) -> Result<String, tower_governor::GovernorError> {
        if self.0 == RateKey::ApiKey {
            if let Some(key) = req
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
            {
                return Ok(format!("key:{}", key.trim()));
            }
        }
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| format!("ip:{}", c.0.ip()))
            .ok_or(tower_governor::GovernorError::UnableToExtractKey)
    }
}

/// Wraps `router` in the rate limiter when one is set.
pub fn rate_limited<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limit: Option<RateLimit>,
) -> Router<S> {
    let Some(limit) = limit else { return router };
    let period = Duration::from_secs_f64(1.0 / limit.per_second);
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .key_extractor(ClientKey(limit.key))
        .period(period)
        .burst_size(limit.burst)
        .finish()
        .expect("a rate above 0 and a burst above 0");
    let layer = tower_governor::GovernorLayer::new(config).error_handler(|e| {
        let wait = match &e {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => *wait_time,
            _ => 1,
        };
        METRICS.connection_refused("rate_limited");
        let mut resp = ApiError::RateLimited(format!(
            "too many requests from this client (--rate-limit); retry in {wait} s"
        ))
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    });
    router.layer(layer)
}

/// How long a body may trickle before its average rate is judged.
pub const BODY_GRACE: Duration = Duration::from_secs(5);

/// Set on a request whose body the guard cut off, so the handler answers 408, not 400.
#[derive(Debug, Clone, Default)]
pub struct SlowBody(pub Arc<AtomicBool>);

impl SlowBody {
    pub fn tripped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request body that fails once it falls below the minimum rate (after the grace) or runs
/// past the timeout. A timer wakes it at the moment it would fail, so a client that sends
/// nothing at all is cut off too.
struct GuardedBody {
    inner: Body,
    started: Instant,
    read: u64,
    limits: (Duration, u64),
    timer: Pin<Box<tokio::time::Sleep>>,
    flag: SlowBody,
}

impl GuardedBody {
    /// When the body fails if no more bytes come.
    fn fails_at(&self) -> Instant {
        let (timeout, rate) = self.limits;
        let by_rate = BODY_GRACE.max(Duration::from_secs_f64(
            self.read as f64 / rate.max(1) as f64,
        ));
        self.started + by_rate.min(timeout)
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.read += d.len() as u64;
                    let at = this.fails_at();
                    this.timer.as_mut().reset(at.into());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.flag.0.store(true, Ordering::Relaxed);
                    METRICS.connection_refused("slow_body");
                    let (timeout, rate) = this.limits;
                    return Poll::Ready(Some(Err(axum::Error::new(format!(
                        "the request body arrived too slowly ({} bytes in {:.1} s; at least {rate} bytes/s after {} s, all within {} s: --min-body-rate, --body-timeout-ms)",
                        this.read,
                        this.started.elapsed().as_secs_f64(),
                        BODY_GRACE.as_secs(),
                        timeout.as_secs()
                    )))));
                }
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The memory reserved for a request's body before it is read; a handler that keeps the bytes
/// (an image upload) takes the lease over, else it is given back when the answer is ready.
#[derive(Debug, Clone, Default)]
pub struct BodyLease(Arc<std::sync::Mutex<Option<Lease>>>);

impl BodyLease {
    pub fn take(&self) -> Option<Lease> {
        self.0.lock().ok()?.take()
    }
}

/// Reserves a body's bytes before it is read: its declared length, or the whole body limit when
/// it is chunked. A declared length over the limit is 413 at once, unread.
fn reserve_body(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Lease, ApiError> {
    use axum::http::header;
    let limit = state.limits.body_bytes as u64;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the request body is larger than {limit} bytes (--body-limit)"
        )));
    }
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let mut lease = state.memory.lease();
    lease.grow(declared.unwrap_or(if chunked { limit } else { 0 }), "body")?;
    Ok(lease)
}

/// Middleware: the body's memory reserved (503 at once when the budget cannot hold it), the
/// body guard, and the whole-request timeout (504) on the time to the answer's head.
pub async fn guard_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limits = &state.settings.conn;
    let flag = SlowBody::default();
    let (mut parts, body) = req.into_parts();
    let lease = match reserve_body(&state, &parts.headers) {
        Ok(l) => BodyLease(Arc::new(std::sync::Mutex::new(Some(l)))),
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(lease.clone());
    parts.extensions.insert(flag.clone());
    let started = Instant::now();
    let guarded = GuardedBody {
        inner: body,
        started,
        read: 0,
        limits: (limits.body_timeout, limits.min_body_rate),
        timer: Box::pin(tokio::time::sleep_until(
            (started + BODY_GRACE.min(limits.body_timeout)).into(),
        )),
        flag,
    };
    let req = Request::from_parts(parts, Body::new(guarded));
    // The handlers answer 504 themselves at the request timeout (queued work is dropped then);
    // this is the backstop for every other route and stage.
    let limit = state.settings.request_timeout + Duration::from_secs(5);
    let answer = tokio::time::timeout(limit, next.run(req)).await;
    drop(lease);
    match answer {
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout(format!(
            "the request took longer than {} ms (--request-timeout-ms)",
            state.settings.request_timeout.as_millis()
        ))
        .into_response(),
    }
}

/// The answer to a connection over `--max-connections`, written straight to the socket.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 128\r\n\r\n{\"error\":\"the server has too many open connections (--max-connections); retry shortly\",\"type\":\"too_many_connections\",\"code\":503}";

/// Serves `app` on `listener` with the connection guards until `shutdown` resolves; then stops
/// accepting, lets requests in flight finish for up to `grace`, and returns.
pub async fn serve_guarded(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            METRICS.connection_refused("max_connections");
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    stream.write_all(TOO_MANY_CONNECTIONS),
                )
                .await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    use tower::ServiceExt;
                    app.oneshot(req.map(Body::new)).await
                }
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        METRICS.connection_opened();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            METRICS.connection_closed();
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: no new connections; finishing requests in flight"
    );
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over; exiting with requests still in flight");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse() {
        let r: RateLimit = "10/s".parse().unwrap();
        assert_eq!((r.per_second, r.burst, r.key), (10.0, 10, RateKey::Ip));
        let r: RateLimit = "600/min,burst=5,key=api-key".parse().unwrap();
        assert_eq!((r.per_second, r.burst, r.key), (10.0, 5, RateKey::ApiKey));
        assert!("fast".parse::<RateLimit>().is_err());
        assert!("0/s".parse::<RateLimit>().is_err());
        assert!("1/s,burst=0".parse::<RateLimit>().is_err());
    }

    #[test]
    fn the_canned_503_has_the_right_length() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{}",
            body.len()
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
