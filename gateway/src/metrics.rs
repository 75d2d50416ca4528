//! The gateway's Prometheus metrics (`flotilla_gateway_*`), served as OpenMetrics text on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Every route class a request is labelled with; a fixed set keeps the
/// label's cardinality bounded whatever clients send.
pub(crate) const CLASSES: [&str; 12] = [
    "manifest",
    "blob",
    "upload",
    "tags",
    "referrers",
    "catalog",
    "search",
    "userprefs",
    "base",
    "other",
    "own",
    "ui",
];

/// Latency buckets in seconds, 1ms to 60s: a cached manifest answers in
/// milliseconds, a large blob or a slow fan-out takes up to a minute.
const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    class: &'static str,
    /// `""` when the gateway answered itself, `"*"` for a fan-out.
    member: String,
    /// `"2xx"`, `"4xx"`, …: the class, not the code, so the series stay few.
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    class: &'static str,
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    /// `"top"` (a first page: each member's first items), `"share"` (a deep
    /// page: each member's share of the items, or of their keys, up to the
    /// page's end), `"share_again"` (a member holding more than its share)
    /// `"window"` (a deep page's own items, after the keys) or `"migration"`
    /// (in the migration window: every member's whole list).
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    member: String,
    /// `"connect"`, `"timeout"`, `"stall"` or `"protocol"`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AbortLabels {
    member: String,
    /// `"error"` (the answer broke: the member died or closed early) or
    /// `"stall"` (it sent no byte for `timeouts.bodyStall`).
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BodyFailureLabels {
    /// `"error"` (cut short or malformed) or `"stall"`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FanOutLabels {
    member: String,
    /// `"timeout"` (not finished by the fan-out's deadline), `"unavailable"`
    /// (no connection, no answer) or `"bad_answer"` (an answer the merge
    /// cannot use: a non-advancing `Link`, JSON of the wrong shape, over the
    /// size limit, cut short).
    kind: &'static str,
}

/// A plain `fn` so the histogram family has a nameable type.
fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.into_iter())
}

/// All of the gateway's metrics; cheap to update from any task, shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    errors: Family<RouteLabels, Counter>,
    upstream_errors: Family<UpstreamLabels, Counter>,
    upstream_body_aborts: Family<AbortLabels, Counter>,
    request_body_failures: Family<BodyFailureLabels, Counter>,
    in_flight: Gauge,
    member_up: Family<MemberLabels, Gauge>,
    search_queries: Family<PhaseLabels, Counter>,
    search_merged: Counter,
    fan_out_failures: Family<FanOutLabels, Counter>,
    merge_budget_used: Gauge,
    merge_budget_refusals: Counter,
}

impl Metrics {
    /// Registers every metric. Each member's `member_up` starts at 0 so it
    /// is exported, and alertable, before the first probe answers.
    pub(crate) fn new(members: &[String]) -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("flotilla_gateway"),
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            errors: Family::default(),
            upstream_errors: Family::default(),
            upstream_body_aborts: Family::default(),
            request_body_failures: Family::default(),
            in_flight: Gauge::default(),
            member_up: Family::default(),
            search_queries: Family::default(),
            search_merged: Counter::default(),
            fan_out_failures: Family::default(),
            merge_budget_used: Gauge::default(),
            merge_budget_refusals: Counter::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "requests",
            "Finished requests by route class, member and status class",
            metrics.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head, by route class and member",
            metrics.duration.clone(),
        );
        registry.register(
            "request_errors",
            "Requests answered 5xx (including upstream failures), by route class and member",
            metrics.errors.clone(),
        );
        registry.register(
            "upstream_errors",
            "Failed exchanges with a member, by kind: connect, timeout, stall, protocol",
            metrics.upstream_errors.clone(),
        );
        registry.register(
            "upstream_body_aborts",
            "Member answers that broke or stalled mid-body, so the client's response was aborted, by member and cause: error, stall",
            metrics.upstream_body_aborts.clone(),
        );
        registry.register(
            "request_body_failures",
            "Request bodies that failed on the sender's side (a client's upload cut short, malformed or stalled; a mount's source), by kind: error, stall",
            metrics.request_body_failures.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests being served now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "member_up",
            "1 if the member's last health probe succeeded, else 0",
            metrics.member_up.clone(),
        );
        registry.register(
            "search_member_queries",
            "Search queries sent to members for fanned-out fields, by phase: top, share, share_again, window",
            metrics.search_queries.clone(),
        );
        registry.register(
            "search_merged_items",
            "Items of members' answers the search merge ranked",
            metrics.search_merged.clone(),
        );
        registry.register(
            "fan_out_member_failures",
            "Members left out of a catalog or search fan-out, by kind: timeout, unavailable, bad_answer",
            metrics.fan_out_failures.clone(),
        );
        registry.register(
            "merge_budget_used_bytes",
            "Bytes of limits.mergeBudgetBytes that merges hold now",
            metrics.merge_budget_used.clone(),
        );
        registry.register(
            "merge_budget_refusals",
            "Merges refused because limits.mergeBudgetBytes was in use",
            metrics.merge_budget_refusals.clone(),
        );
        for member in members {
            metrics.set_member_up(member, false);
        }
        metrics
    }

    /// One round of a fan-out: `queries` sent in `phase`, `items` ranked from what came back.
    pub(crate) fn search_round(&self, phase: &'static str, queries: usize, items: usize) {
        self.search_queries
            .get_or_create(&PhaseLabels { phase })
            .inc_by(queries as u64);
        self.search_merged.inc_by(items as u64);
    }

    /// One member left out of a fan-out, by what went wrong; the merge
    /// budget running out is counted apart, as it is no member's fault.
    pub(crate) fn fan_out_failure(&self, err: &crate::error::GatewayError) {
        use crate::error::GatewayError as E;
        let kind = match err {
            E::MemberTimeout { .. } => "timeout",
            E::MemberUnavailable { .. } => "unavailable",
            E::BadMember { .. } => "bad_answer",
            E::MergeBudget { .. } => {
                self.merge_budget_refusals.inc();
                return;
            }
            E::Members(all) => {
                all.iter().for_each(|e| self.fan_out_failure(e));
                return;
            }
            _ => return,
        };
        if let Some(member) = err.member() {
            let labels = FanOutLabels {
                member: member.to_owned(),
                kind,
            };
            self.fan_out_failures.get_or_create(&labels).inc();
        }
    }

    /// The gauge the merge budget keeps current.
    pub(crate) fn merge_budget_gauge(&self) -> Gauge {
        self.merge_budget_used.clone()
    }

    /// Records one finished request. `member` is `""` when the gateway
    /// answered itself and `"*"` for a fan-out; `class` is one of [`CLASSES`].
    pub(crate) fn observe(
        &self,
        class: &'static str,
        member: &str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        debug_assert!(CLASSES.contains(&class), "unknown route class {class:?}");
        let status = status_class(status);
        let member = member.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                class,
                member: member.clone(),
                status,
            })
            .inc();
        let route = RouteLabels { class, member };
        self.duration
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
        if status == "5xx" {
            self.errors.get_or_create(&route).inc();
        }
    }

    /// Counts a request as in flight until the returned guard drops, so
    /// early returns and cancelled futures are counted out too.
    pub(crate) fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Drops the series of a member a reload took out of the config.
    pub(crate) fn forget_member(&self, member: &str) {
        self.member_up.remove(&MemberLabels {
            member: member.to_owned(),
        });
    }

    pub(crate) fn set_member_up(&self, member: &str, up: bool) {
        let labels = MemberLabels {
            member: member.to_owned(),
        };
        self.member_up.get_or_create(&labels).set(i64::from(up));
    }

    /// One failed exchange with `member`; `kind` is `"connect"`, `"timeout"`, `"stall"` or `"protocol"`.
    pub(crate) fn upstream_failure(&self, member: &str, kind: &'static str) {
        let labels = UpstreamLabels {
            member: member.to_owned(),
            kind,
        };
        self.upstream_errors.get_or_create(&labels).inc();
    }

    /// One member answer aborted mid-body; `cause` is `"error"` or `"stall"`.
    pub(crate) fn upstream_body_abort(&self, member: &str, cause: &'static str) {
        let labels = AbortLabels {
            member: member.to_owned(),
            cause,
        };
        self.upstream_body_aborts.get_or_create(&labels).inc();
    }

    /// One request body the sender failed; `kind` is `"error"` or `"stall"`.
    pub(crate) fn request_body_failure(&self, kind: &'static str) {
        self.request_body_failures
            .get_or_create(&BodyFailureLabels { kind })
            .inc();
    }

    /// The OpenMetrics text exposition, ending in `# EOF`; serve it as
    /// `application/openmetrics-text; version=1.0.0; charset=utf-8`.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would only
        // truncate the scrape, which is better than failing the request.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%err, "encoding metrics");
        }
        text
    }
}

/// Decrements the in-flight gauge when dropped; see [`Metrics::in_flight`].
#[must_use = "the request counts as in flight only while the guard lives"]
#[derive(Debug)]
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
