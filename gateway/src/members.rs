//! The members: one pooled HTTP client to all of them, their health, and the only way a request reaches one.
//!
//! Health is active (a probe of `/v2/` every `probeInterval`; 200 or 401 is
//! alive) and passive (a connection failure marks the member down at once),
//! so requests for a dead member's repositories fail fast instead of hanging.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::budget::{Charge, Exhausted};
use crate::config::Config;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::route::HOP_HEADER;

/// A body sent to a member: the client's own, streamed, or one the gateway made.
pub(crate) type UpstreamBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, UpstreamBody>;

/// One configured member.
#[derive(Debug)]
pub(crate) struct Member {
    /// `host:port` as configured; how errors and metrics name it.
    pub(crate) name: String,
    scheme: &'static str,
    health: AtomicU8,
    /// Probes missed in a row by timing out; a member is marked down only
    /// after [`MISSES_BEFORE_DOWN`], since a busy member can be slow once.
    misses: AtomicU8,
}

/// Consecutive probe timeouts that mark a member down (a refused
/// connection marks it down at once).
const MISSES_BEFORE_DOWN: u8 = 3;

/// What the last probe or request said about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Health {
    Up = 0,
    Down = 1,
    /// The member answered `508`: it is a gateway, so routing there loops.
    Loop = 2,
}

impl Member {
    pub(crate) fn is_up(&self) -> bool {
        self.health() == Health::Up
    }

    fn health(&self) -> Health {
        match self.health.load(Ordering::Relaxed) {
            0 => Health::Up,
            2 => Health::Loop,
            _ => Health::Down,
        }
    }
}

/// Every member, and the client that reaches them.
pub(crate) struct Members {
    list: Vec<Member>,
    client: HttpsClient,
    response_timeout: Duration,
    next: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

impl Members {
    pub(crate) fn new(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(config.timeouts.connect));
        http.set_nodelay(true);
        http.enforce_http(false);
        let tls = match &config.cluster.tls {
            Some(tls) => flotilla_node::tls::client_config(tls)?,
            None => flotilla_node::tls::client_config_without_roots()?,
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            // A slow client must not let a member's bytes pile up in the
            // gateway: hyper's default lets each connection buffer ~400 KiB.
            .http1_max_buf_size(flotilla_node::listener::MAX_BUF)
            .build(connector);
        let scheme = if config.cluster.tls.is_some() {
            "https"
        } else {
            "http"
        };
        for name in &config.cluster.members {
            metrics.set_member_up(name, true);
        }
        let list = config
            .cluster
            .members
            .iter()
            .map(|name| Member {
                name: name.clone(),
                scheme,
                health: AtomicU8::new(Health::Up as u8),
                misses: AtomicU8::new(0),
            })
            .collect();
        Ok(Self {
            list,
            client,
            response_timeout: config.timeouts.response,
            next: AtomicUsize::new(0),
            metrics,
        })
    }

    pub(crate) fn get(&self, index: usize) -> &Member {
        &self.list[index]
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn any_up(&self) -> bool {
        self.list.iter().any(Member::is_up)
    }

    /// A healthy member, round robin; `NoMember` when none is.
    pub(crate) fn pick(&self) -> Result<usize, GatewayError> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.list[i].is_up())
            .ok_or(GatewayError::NoMember)
    }

    /// The URI of `path_and_query` on member `index`.
    pub(crate) fn uri(&self, index: usize, path_and_query: &str) -> Result<Uri, GatewayError> {
        let member = &self.list[index];
        format!("{}://{}{}", member.scheme, member.name, path_and_query)
            .parse()
            .map_err(|e| GatewayError::BadMember {
                member: member.name.clone(),
                reason: format!("bad URI: {e}"),
            })
    }

    /// Sends a request to member `index`: fails fast if the member is known to
    /// be down, marks it down on a connection failure, and bounds the wait for
    /// response headers. The hop header is added here, for every request.
    pub(crate) async fn send(
        &self,
        index: usize,
        mut req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, GatewayError> {
        let member = &self.list[index];
        match member.health() {
            Health::Up => {}
            Health::Loop => return Err(GatewayError::Loop),
            Health::Down => {
                return Err(GatewayError::MemberUnavailable {
                    member: member.name.clone(),
                    reason: "failing health checks".into(),
                })
            }
        }
        req.headers_mut()
            .insert(HOP_HEADER, http::HeaderValue::from_static("1"));
        match tokio::time::timeout(self.response_timeout, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                let connect = e.is_connect();
                self.metrics
                    .upstream_failure(&member.name, if connect { "connect" } else { "protocol" });
                if connect {
                    self.mark(index, Health::Down);
                }
                Err(GatewayError::MemberUnavailable {
                    member: member.name.clone(),
                    reason: error_chain(&e),
                })
            }
            Err(_) => {
                self.metrics.upstream_failure(&member.name, "timeout");
                Err(GatewayError::MemberTimeout {
                    member: member.name.clone(),
                    after: self.response_timeout,
                })
            }
        }
    }

    fn mark(&self, index: usize, health: Health) {
        let member = &self.list[index];
        let before = member.health.swap(health as u8, Ordering::Relaxed);
        if before != health as u8 {
            match health {
                Health::Up => tracing::info!(member = %member.name, "member is healthy again"),
                Health::Down => tracing::warn!(member = %member.name, "member marked down"),
                Health::Loop => {
                    tracing::error!(member = %member.name, "member is a Flotilla gateway: requests for it would loop")
                }
            }
        }
        self.metrics
            .set_member_up(&member.name, health == Health::Up);
    }

    /// Probes every member forever: `GET /v2/`, alive on 200 or 401; a `508`
    /// means the member is itself a gateway, which is a loop, not an outage.
    pub(crate) async fn probe_forever(self: Arc<Self>, interval: Duration, timeout: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let probes = (0..self.list.len()).map(|i| self.probe(i, timeout));
            futures_util::future::join_all(probes).await;
        }
    }

    async fn probe(&self, index: usize, timeout: Duration) {
        let Ok(uri) = self.uri(index, "/v2/") else {
            return;
        };
        let mut req = Request::get(uri).body(empty()).unwrap_or_default();
        req.headers_mut()
            .insert(HOP_HEADER, http::HeaderValue::from_static("1"));
        let member = &self.list[index];
        let health = match tokio::time::timeout(timeout, self.client.request(req)).await {
            Ok(Ok(resp)) => match resp.status() {
                StatusCode::OK | StatusCode::UNAUTHORIZED => Health::Up,
                StatusCode::LOOP_DETECTED => Health::Loop,
                _ => Health::Down,
            },
            Ok(Err(_)) => Health::Down,
            Err(_) => {
                let missed = member
                    .misses
                    .fetch_add(1, Ordering::Relaxed)
                    .saturating_add(1);
                if missed < MISSES_BEFORE_DOWN {
                    return;
                }
                Health::Down
            }
        };
        if health != Health::Down {
            member.misses.store(0, Ordering::Relaxed);
        }
        self.mark(index, health);
    }
}

/// A member's answer read whole, for the gateway to parse outside any merge
/// (the schema at start); over `limit` bytes it is an error, not a truncation.
pub(crate) async fn read_body(resp: Response<Incoming>, limit: usize) -> Result<Bytes, String> {
    read_charged(resp, limit, &mut Charge::unbudgeted())
        .await
        .map_err(|e| e.to_string())
}

/// Why a member's answer could not be read for a merge.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Over `limits.mergedBodyBytes`, by its `Content-Length` or as it came.
    #[error("body over {limit} bytes (limits.mergedBodyBytes)")]
    TooLarge { limit: usize },
    /// The connection failed or closed before the body's end.
    #[error("body cut short: {0}")]
    Cut(String),
    /// The gateway's own budget is spent: no fault of the member's.
    #[error(transparent)]
    Budget(#[from] Exhausted),
}

/// A member's answer read whole for a merge, each byte charged to `charge`
/// as it arrives (the buffer's capacity, which is what the gateway holds).
/// A `Content-Length` over `limit` fails before any byte is read.
pub(crate) async fn read_charged(
    resp: Response<Incoming>,
    limit: usize,
    charge: &mut Charge,
) -> Result<Bytes, ReadError> {
    let declared = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    let mut charged = 0;
    if let Some(n) = declared {
        charge.add(n)?;
        buf.reserve(n);
        charged = n;
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Cut(error_chain(&e)))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        let needed = buf.len() + data.len();
        if needed > buf.capacity() {
            // Grown by doubling (no further than the limit) and charged
            // before the allocation, so the buffer never holds more than its charge.
            let target = (buf.capacity() * 2).clamp(needed, limit.max(needed));
            charge.add(target.saturating_sub(charged))?;
            charged = charged.max(target);
            buf.reserve(target - buf.len());
        }
        if buf.capacity() > charged {
            charge.add(buf.capacity() - charged)?;
            charged = buf.capacity();
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// An empty upstream body.
pub(crate) fn empty() -> UpstreamBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// hyper's errors hide their cause; operators need it ("connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
