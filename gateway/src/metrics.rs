//! The gateway's Prometheus metrics (`flotilla_gateway_*`), served as OpenMetrics text on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Every route class a request is labelled with; a fixed set keeps the
/// label's cardinality bounded whatever clients send.
pub(crate) const CLASSES: [&str; 11] = [
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
struct UpstreamLabels {
    member: String,
    /// `"connect"`, `"timeout"` or `"protocol"`.
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
    in_flight: Gauge,
    member_up: Family<MemberLabels, Gauge>,
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
            in_flight: Gauge::default(),
            member_up: Family::default(),
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
            "Failed exchanges with a member, by kind: connect, timeout, protocol",
            metrics.upstream_errors.clone(),
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
        for member in members {
            metrics.set_member_up(member, false);
        }
        metrics
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

    pub(crate) fn set_member_up(&self, member: &str, up: bool) {
        let labels = MemberLabels {
            member: member.to_owned(),
        };
        self.member_up.get_or_create(&labels).set(i64::from(up));
    }

    /// One failed exchange with `member`; `kind` is `"connect"`, `"timeout"` or `"protocol"`.
    pub(crate) fn upstream_failure(&self, member: &str, kind: &'static str) {
        let labels = UpstreamLabels {
            member: member.to_owned(),
            kind,
        };
        self.upstream_errors.get_or_create(&labels).inc();
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
mod tests {
    use std::time::Duration;

    use super::*;

    fn members() -> Vec<String> {
        vec!["10.0.0.1:5000".into(), "10.0.0.2:5000".into()]
    }

    /// The value of the one sample line that starts with `series`, e.g.
    /// `flotilla_gateway_requests_total{class="blob",member="m",status="2xx"}`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    #[test]
    fn requests_are_counted_by_class_member_and_status_class() {
        let metrics = Metrics::new(&members());
        let ms = Duration::from_millis;
        metrics.observe("blob", "10.0.0.1:5000", 200, ms(3));
        metrics.observe("blob", "10.0.0.1:5000", 206, ms(40));
        metrics.observe("blob", "10.0.0.1:5000", 404, ms(2));
        metrics.observe("manifest", "10.0.0.2:5000", 502, ms(3000));
        metrics.observe("catalog", "*", 200, ms(120));
        metrics.observe("base", "", 200, Duration::from_micros(200));
        let text = metrics.encode();

        let requests = |labels: &str| {
            sample(
                &text,
                &format!("flotilla_gateway_requests_total{{{labels}}}"),
            )
        };
        assert_eq!(
            requests(r#"class="blob",member="10.0.0.1:5000",status="2xx""#),
            Some(2.0)
        );
        assert_eq!(
            requests(r#"class="blob",member="10.0.0.1:5000",status="4xx""#),
            Some(1.0)
        );
        assert_eq!(
            requests(r#"class="manifest",member="10.0.0.2:5000",status="5xx""#),
            Some(1.0)
        );
        assert_eq!(
            requests(r#"class="catalog",member="*",status="2xx""#),
            Some(1.0)
        );
        assert_eq!(
            requests(r#"class="base",member="",status="2xx""#),
            Some(1.0)
        );

        let errors = |labels: &str| {
            sample(
                &text,
                &format!("flotilla_gateway_request_errors_total{{{labels}}}"),
            )
        };
        assert_eq!(
            errors(r#"class="manifest",member="10.0.0.2:5000""#),
            Some(1.0)
        );
        assert_eq!(
            errors(r#"class="blob",member="10.0.0.1:5000""#),
            None,
            "4xx is not an error"
        );

        let blob = r#"class="blob",member="10.0.0.1:5000""#;
        let duration = |suffix: &str| {
            sample(
                &text,
                &format!("flotilla_gateway_request_duration_seconds_{suffix}"),
            )
        };
        assert_eq!(duration(&format!("count{{{blob}}}")), Some(3.0));
        let sum = duration(&format!("sum{{{blob}}}")).unwrap();
        assert!((sum - 0.045).abs() < 1e-9, "{sum}");
        assert_eq!(
            duration(&format!("bucket{{le=\"0.0025\",{blob}}}")),
            Some(1.0)
        );
        assert_eq!(
            duration(&format!("bucket{{le=\"0.005\",{blob}}}")),
            Some(2.0)
        );
        assert_eq!(
            duration(&format!("bucket{{le=\"60.0\",{blob}}}")),
            Some(3.0)
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn in_flight_guard_counts_up_and_back_down() {
        let metrics = Metrics::new(&[]);
        let in_flight = |m: &Metrics| sample(&m.encode(), "flotilla_gateway_in_flight_requests");
        assert_eq!(in_flight(&metrics), Some(0.0));
        let first = metrics.in_flight();
        let second = metrics.in_flight();
        assert_eq!(in_flight(&metrics), Some(2.0));
        drop(first);
        assert_eq!(in_flight(&metrics), Some(1.0));
        drop(second);
        assert_eq!(in_flight(&metrics), Some(0.0));
    }

    #[test]
    fn members_start_down_and_toggle() {
        let metrics = Metrics::new(&members());
        let up = |m: &Metrics, member: &str| {
            sample(
                &m.encode(),
                &format!("flotilla_gateway_member_up{{member=\"{member}\"}}"),
            )
        };
        assert_eq!(up(&metrics, "10.0.0.1:5000"), Some(0.0));
        assert_eq!(up(&metrics, "10.0.0.2:5000"), Some(0.0));
        metrics.set_member_up("10.0.0.1:5000", true);
        assert_eq!(up(&metrics, "10.0.0.1:5000"), Some(1.0));
        assert_eq!(up(&metrics, "10.0.0.2:5000"), Some(0.0));
        metrics.set_member_up("10.0.0.1:5000", false);
        assert_eq!(up(&metrics, "10.0.0.1:5000"), Some(0.0));
    }

    #[test]
    fn upstream_failures_are_counted_by_member_and_kind() {
        let metrics = Metrics::new(&members());
        metrics.upstream_failure("10.0.0.2:5000", "connect");
        metrics.upstream_failure("10.0.0.2:5000", "connect");
        metrics.upstream_failure("10.0.0.2:5000", "timeout");
        let text = metrics.encode();
        let failures = |kind: &str| {
            let series = format!("flotilla_gateway_upstream_errors_total{{member=\"10.0.0.2:5000\",kind=\"{kind}\"}}");
            sample(&text, &series)
        };
        assert_eq!(failures("connect"), Some(2.0));
        assert_eq!(failures("timeout"), Some(1.0));
        assert_eq!(failures("protocol"), None);
    }

    #[test]
    fn status_codes_fold_into_classes() {
        let classes: Vec<_> = [101, 200, 307, 499, 500, 599, 600, 0]
            .map(status_class)
            .into();
        assert_eq!(
            classes,
            ["1xx", "2xx", "3xx", "4xx", "5xx", "5xx", "other", "other"]
        );
    }

    #[test]
    fn metrics_are_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
        assert_send_sync::<InFlight>();
    }
}
