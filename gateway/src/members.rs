//! The members: one pooled HTTP client to all of them, their health, and the only way a request reaches one.
//!
//! Health is active (a probe of `/v2/` every `probeInterval`; 200 or 401 is
//! alive) and passive (a connection failure marks the member down at once),
//! so requests for a dead member's repositories fail fast instead of hanging;
//! requests already waiting on a member fail the moment it is marked down.
//!
//! Each exchange is bounded by turns ([`crate::body`]): the wait for an
//! answer starts when the request body ends, either side may stall its body
//! only so long, and a body the sender broke is the sender's failure, never
//! counted against the member.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Notify;

use crate::body::{self, Outbound, Overdue, Turn};
use crate::budget::{Charge, Exhausted};
use crate::config::Config;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::route::HOP_HEADER;

/// A body sent to a member: the client's own, streamed, or one the gateway made.
pub(crate) type UpstreamBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, UpstreamBody>;

/// The most a connection to a member reads at once. A pull relays each
/// read as a chunk that holds its whole buffer until the client has taken
/// it, while the next read fills another, so this sets the gateway's memory
/// per concurrent pull: under 100 concurrent pulls, 128 KiB peaked at 43 MiB
/// and 64 KiB at 29 MiB, with the same CPU per GiB for a single large pull
/// (hyper's default grows to ~400 KiB).
const MEMBER_READ_BUF: usize = 64 * 1024;

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
    /// Wakes every request waiting for this member's answer when it is marked down.
    down: Notify,
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

/// Every member, and the clients that reach them.
pub(crate) struct Members {
    list: Vec<Member>,
    /// One pool of member connections for the gateway's own tasks (probes),
    /// then one per serving worker: a connection's task runs on the runtime
    /// that opened it, so each worker keeps to its own ([`Members::client`]).
    clients: Vec<HttpsClient>,
    /// From the end of a request body to the member's answer (`timeouts.response`).
    response_timeout: Duration,
    /// Longest pause of a body, either way (`timeouts.bodyStall`).
    body_stall: Duration,
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
            Some(tls) => flotilla_serve::tls::client_config(tls)?,
            None => flotilla_serve::tls::client_config_without_roots()?,
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let clients = (0..=config.workers())
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    // Without a timer the pool never reaps idle connections.
                    .pool_timer(TokioTimer::new())
                    .pool_idle_timeout(config.timeouts.pool_idle)
                    .pool_max_idle_per_host(1024)
                    .http1_max_buf_size(MEMBER_READ_BUF)
                    .build(connector.clone())
            })
            .collect();
        let scheme = if config.cluster.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let all = config.all_members();
        for name in &all {
            metrics.set_member_up(name, true);
        }
        let list = all
            .iter()
            .map(|name| Member {
                name: name.clone(),
                scheme,
                health: AtomicU8::new(Health::Up as u8),
                misses: AtomicU8::new(0),
                down: Notify::new(),
            })
            .collect();
        Ok(Self {
            list,
            clients,
            response_timeout: config.timeouts.response,
            body_stall: config.timeouts.body_stall,
            next: AtomicUsize::new(0),
            metrics,
        })
    }

    /// The pool of the calling thread: its worker's, else the gateway's own
    /// (also for a worker started before a reload changed their number).
    fn client(&self) -> &HttpsClient {
        let worker = flotilla_serve::workers::current().map_or(0, |w| w + 1);
        self.clients.get(worker).unwrap_or(&self.clients[0])
    }

    /// Takes the health of each member `old` also has, so a member known to
    /// be down stays down across a config reload until a probe finds it up;
    /// members `old` had and this has not leave the metrics.
    pub(crate) fn inherit_health(&self, old: &Members) {
        for member in &self.list {
            if let Some(known) = old.list.iter().find(|m| m.name == member.name) {
                let health = known.health.load(Ordering::Relaxed);
                member.health.store(health, Ordering::Relaxed);
                member
                    .misses
                    .store(known.misses.load(Ordering::Relaxed), Ordering::Relaxed);
                self.metrics.set_member_up(&member.name, known.is_up());
            }
        }
        for gone in old
            .list
            .iter()
            .filter(|m| !self.list.iter().any(|n| n.name == m.name))
        {
            self.metrics.forget_member(&gone.name);
        }
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
    /// Built from parts, never from text: the member's own authority, and a
    /// path that must start with `/`, so no request can name another host or port.
    pub(crate) fn uri(&self, index: usize, path_and_query: &str) -> Result<Uri, GatewayError> {
        let member = &self.list[index];
        if !path_and_query.starts_with('/') {
            return Err(GatewayError::bad_target(path_and_query));
        }
        Uri::builder()
            .scheme(member.scheme)
            .authority(member.name.as_str())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| GatewayError::BadMember {
                member: member.name.clone(),
                reason: format!("bad URI: {e}"),
            })
    }

    /// Sends a request to member `index` and waits for its answer's head.
    ///
    /// Fails fast if the member is known to be down, and at once when it is
    /// marked down while the answer is awaited (the body sent); marks it down
    /// on a connection failure. The
    /// answer is awaited `timeouts.response` from the end of the request
    /// body, and either side's body may stall `timeouts.bodyStall`. A request
    /// body that fails or stalls on the sender's side is the sender's error
    /// ([`GatewayError::ClientBody`], [`GatewayError::ClientStalled`]) and
    /// leaves the member's health and failure counts alone. A member that
    /// answers before the body ends (413, 401) has its answer returned at
    /// once: hyper's HTTP/1.1 client reads before it writes and hands over a
    /// response head as soon as it arrives, while the body keeps streaming.
    /// (Only a reset that reaches the gateway before the answer is read loses
    /// it, which a member closing gracefully avoids.) The hop header is added
    /// here, for every request.
    pub(crate) async fn send(
        &self,
        index: usize,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, GatewayError> {
        let member = &self.list[index];
        // Registered before the health check, so a mark in between is not missed.
        let marked_down = member.down.notified();
        match member.health() {
            Health::Up => {}
            Health::Loop => return Err(GatewayError::Loop),
            Health::Down => return Err(unavailable(member, "failing health checks".into())),
        }
        let (mut parts, body) = req.into_parts();
        parts
            .headers
            .insert(HOP_HEADER, http::HeaderValue::from_static("1"));
        let (body, turns) = Outbound::new(body);
        let req = Request::from_parts(parts, body.boxed());
        let exchange = self.client().request(req);
        let late = body::overdue(turns.clone(), self.body_stall, self.response_timeout);
        tokio::pin!(exchange, late, marked_down);
        let mut heeding_down = true;
        let failure = loop {
            tokio::select! {
                answer = &mut exchange => match answer {
                    Ok(resp) => return Ok(resp),
                    Err(e) if *turns.borrow() == Turn::SenderFailed => {
                        self.metrics.request_body_failure("error");
                        return Err(GatewayError::ClientBody { reason: error_chain(&e) });
                    }
                    Err(e) => return Err(self.failed(index, &e)),
                },
                late = &mut late => break late,
                () = &mut marked_down, if heeding_down => {
                    // A body still moving is left to the stall bound, so one
                    // failed probe does not cut an upload the member is taking.
                    if matches!(*turns.borrow(), Turn::Answer(_)) {
                        return Err(unavailable(member, "marked down by health checks while its answer was awaited".into()));
                    }
                    heeding_down = false;
                }
            }
        };
        let after = self.body_stall;
        let member = member.name.clone();
        Err(match failure {
            Overdue::SenderFailed => {
                self.metrics.request_body_failure("error");
                GatewayError::ClientBody {
                    reason: "the request body was cut short or malformed".into(),
                }
            }
            Overdue::SenderStalled => {
                self.metrics.request_body_failure("stall");
                GatewayError::ClientStalled { after }
            }
            Overdue::MemberStalled => {
                self.metrics.upstream_failure(&member, "stall");
                GatewayError::MemberStalled { member, after }
            }
            Overdue::NoAnswer => {
                self.metrics.upstream_failure(&member, "timeout");
                GatewayError::MemberTimeout {
                    member,
                    after: self.response_timeout,
                }
            }
        })
    }

    /// A failed exchange the member is to blame for: counted, and a
    /// connection failure marks the member down.
    fn failed(&self, index: usize, e: &hyper_util::client::legacy::Error) -> GatewayError {
        let member = &self.list[index];
        let connect = e.is_connect();
        self.metrics
            .upstream_failure(&member.name, if connect { "connect" } else { "protocol" });
        if connect {
            self.mark(index, Health::Down);
        }
        unavailable(member, error_chain(e))
    }

    /// How long a member's answer may pause between bytes before it is cut off.
    pub(crate) fn body_stall(&self) -> Duration {
        self.body_stall
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn mark(&self, index: usize, health: Health) {
        let member = &self.list[index];
        let before = member.health.swap(health as u8, Ordering::Relaxed);
        if before != health as u8 {
            match health {
                Health::Up => tracing::info!(member = %member.name, "member is healthy again"),
                Health::Down => {
                    tracing::warn!(member = %member.name, "member marked down");
                    member.down.notify_waiters();
                }
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
        let health = match tokio::time::timeout(timeout, self.client().request(req)).await {
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

fn unavailable(member: &Member, reason: String) -> GatewayError {
    GatewayError::MemberUnavailable {
        member: member.name.clone(),
        reason,
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
