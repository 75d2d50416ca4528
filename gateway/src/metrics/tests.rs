//! Metrics: what each call records, read back from the encoded exposition.

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
        let series = format!(
            "flotilla_gateway_upstream_errors_total{{member=\"10.0.0.2:5000\",kind=\"{kind}\"}}"
        );
        sample(&text, &series)
    };
    assert_eq!(failures("connect"), Some(2.0));
    assert_eq!(failures("timeout"), Some(1.0));
    assert_eq!(failures("protocol"), None);
}

#[test]
fn aborted_answers_name_the_member_and_body_failures_name_no_member() {
    let metrics = Metrics::new(&members());
    metrics.upstream_body_abort("10.0.0.1:5000", "error");
    metrics.upstream_body_abort("10.0.0.1:5000", "error");
    metrics.upstream_body_abort("10.0.0.1:5000", "stall");
    metrics.request_body_failure("stall");
    let text = metrics.encode();
    let aborts = |cause: &str| {
        let series = format!(
            "flotilla_gateway_upstream_body_aborts_total{{member=\"10.0.0.1:5000\",cause=\"{cause}\"}}"
        );
        sample(&text, &series)
    };
    assert_eq!(aborts("error"), Some(2.0));
    assert_eq!(aborts("stall"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            r#"flotilla_gateway_request_body_failures_total{kind="stall"}"#
        ),
        Some(1.0)
    );
    assert!(
        !text.contains("flotilla_gateway_upstream_errors_total{"),
        "{text}"
    );
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

#[test]
fn fan_out_failures_are_counted_by_member_and_kind_and_budget_refusals_apart() {
    use crate::error::GatewayError;
    let metrics = Metrics::new(&members());
    let timeout = |member: &str| GatewayError::MemberTimeout {
        member: member.into(),
        after: Duration::from_secs(1),
    };
    metrics.fan_out_failure(&GatewayError::Members(vec![
        timeout("10.0.0.1:5000"),
        timeout("10.0.0.2:5000"),
    ]));
    metrics.fan_out_failure(&GatewayError::BadMember {
        member: "10.0.0.2:5000".into(),
        reason: "catalog Link does not advance".into(),
    });
    metrics.fan_out_failure(&GatewayError::MergeBudget { limit: 1 });
    metrics.merge_budget_gauge().set(4096);
    let text = metrics.encode();
    let failures = |labels: &str| {
        sample(
            &text,
            &format!("flotilla_gateway_fan_out_member_failures_total{{{labels}}}"),
        )
    };
    assert_eq!(
        failures(r#"member="10.0.0.1:5000",kind="timeout""#),
        Some(1.0)
    );
    assert_eq!(
        failures(r#"member="10.0.0.2:5000",kind="timeout""#),
        Some(1.0)
    );
    assert_eq!(
        failures(r#"member="10.0.0.2:5000",kind="bad_answer""#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "flotilla_gateway_merge_budget_refusals_total"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "flotilla_gateway_merge_budget_used_bytes"),
        Some(4096.0)
    );
}
