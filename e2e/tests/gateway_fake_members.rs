//! The gateway's fan-outs (catalog, search) against members that misbehave, played by fake members: each fault is answered within seconds, naming the member, in bounded memory, and nothing but a member is ever contacted.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use flotilla_e2e::cluster::push_small_image;
use flotilla_e2e::fake_member::Framing;
use flotilla_e2e::{FakeMember, Gateway, Node, Reply};
use serde_json::{json, Value};
use tokio::time::Instant;

const CATALOG: &str = "/v2/_catalog";
const SEARCH: &str = "/v2/_zot/ext/search";
const REPOS: &str = "{ RepoListWithNewestImage { Page { TotalCount } Results { Name } } }";

/// A member whose catalog is two repositories.
fn good_member() -> Result<FakeMember> {
    let member = FakeMember::routes()?;
    member.on(
        CATALOG,
        Reply::json(r#"{"repositories":["good/a","good/b"]}"#),
    );
    Ok(member)
}

/// A good member and one to script, behind a gateway that fails on any member failure.
fn good_and_bad() -> Result<(FakeMember, FakeMember, Gateway)> {
    let good = good_member()?;
    let bad = FakeMember::routes()?;
    let gateway = Gateway::builder()
        .members(&[good.host_port(), bad.host_port()])
        .start()?;
    Ok((good, bad, gateway))
}

/// What a GET of the catalog answered: status, `Warning` headers, JSON.
struct Answer {
    status: u16,
    warnings: Vec<String>,
    body: Value,
    took: Duration,
}

fn get_catalog(gateway: &Gateway) -> Result<Answer> {
    answer(gateway.http().get(CATALOG))
}

fn search(gateway: &Gateway, query: &str) -> Result<Answer> {
    answer(gateway.http().post(SEARCH).json(&json!({ "query": query })))
}

/// Sends `request` and reads its answer, timed.
fn answer(request: reqwest::blocking::RequestBuilder) -> Result<Answer> {
    let started = Instant::now();
    let resp = request.send()?;
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = resp.json().context("the answer is JSON")?;
    Ok(Answer {
        status,
        warnings,
        body,
        took: started.elapsed(),
    })
}

/// Every fault here is answered within a few seconds.
fn ensure_quick(answer: &Answer) -> Result<()> {
    ensure!(
        answer.took < Duration::from_secs(4),
        "took {:?}",
        answer.took
    );
    Ok(())
}

/// A partial catalog that left every member out but [`good_member`].
fn ensure_only_good(answer: &Answer) -> Result<()> {
    ensure!(answer.status == 200, "{}", answer.body);
    ensure!(
        answer.body == json!({"repositories": ["good/a", "good/b"]}),
        "{}",
        answer.body
    );
    Ok(())
}

/// The OCI error of a failed catalog names `member` and says `why`.
fn ensure_catalog_error(answer: &Answer, status: u16, member: &str, why: &str) -> Result<()> {
    let body = &answer.body;
    ensure!(answer.status == status, "status {}: {body}", answer.status);
    let error = &body["errors"][0];
    ensure!(
        error["detail"]["member"] == member,
        "not naming {member}: {body}"
    );
    let description = error["detail"]["description"].as_str().unwrap_or_default();
    ensure!(description.contains(why), "not saying {why:?}: {body}");
    ensure_quick(answer)
}

/// The search answer's only error is `MEMBER_UNAVAILABLE`, naming `member` and saying `why`.
fn ensure_search_error(answer: &Answer, member: &str, why: &str) -> Result<()> {
    let body = &answer.body;
    ensure!(answer.status == 200, "status {}: {body}", answer.status);
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    ensure!(errors.len() == 1, "one error expected: {body}");
    ensure!(
        errors[0]["extensions"]["code"] == "MEMBER_UNAVAILABLE"
            && errors[0]["extensions"]["member"] == member,
        "not naming {member}: {body}"
    );
    let message = errors[0]["message"].as_str().unwrap_or_default();
    ensure!(message.contains(why), "not saying {why:?}: {body}");
    ensure_quick(answer)
}

/// A `Link` that points back at the same page, or at the start, cost
/// `limits.catalogPages` (10,000) requests per catalog: now a request or two,
/// and the member is named.
#[test]
fn a_catalog_link_that_never_advances_costs_a_request_or_two_and_names_the_member() -> Result<()> {
    let good = good_member()?;
    let same_page = FakeMember::routes()?;
    same_page.on(
        CATALOG,
        Reply::json(r#"{"repositories":["loop/a","loop/b"]}"#)
            .header("Link", "</v2/_catalog?n=2&last=loop/b>; rel=\"next\""),
    );
    let to_start = FakeMember::routes()?;
    to_start.on(
        CATALOG,
        Reply::json(r#"{"repositories":["start/a"]}"#)
            .header("Link", "</v2/_catalog>; rel=\"next\""),
    );
    let members = [
        good.host_port(),
        same_page.host_port(),
        to_start.host_port(),
    ];
    let gateway = Gateway::builder().members(&members).partial().start()?;
    let answer = get_catalog(&gateway)?;
    ensure_only_good(&answer)?;
    for member in &members[1..] {
        ensure!(
            answer
                .warnings
                .iter()
                .any(|w| w.contains(member.as_str()) && w.contains("does not advance")),
            "no warning names {member}: {:?}",
            answer.warnings
        );
    }
    ensure!(same_page.count(CATALOG) == 2, "{:?}", same_page.requests());
    ensure!(to_start.count(CATALOG) == 1, "{:?}", to_start.requests());

    let failing = Gateway::builder()
        .members(&[good.host_port(), same_page.host_port()])
        .start()?;
    ensure_catalog_error(
        &get_catalog(&failing)?,
        502,
        &members[1],
        "does not advance",
    )
}

#[test]
fn catalog_pages_that_are_not_catalogs_name_the_member() -> Result<()> {
    let (_good, bad, gateway) = good_and_bad()?;
    for body in [
        "<html>not json</html>",
        r#"{"repositories":"bad/a"}"#,
        r#"{"repositories":[1,2]}"#,
        r#"{"repositories":[{"name":"bad/a"}]}"#,
        r#"["bad/a"]"#,
    ] {
        bad.on(CATALOG, Reply::json(body));
        ensure_catalog_error(
            &get_catalog(&gateway)?,
            502,
            &bad.host_port(),
            "not a catalog",
        )
        .with_context(|| format!("a page of {body}"))?;
    }
    Ok(())
}

/// Framings a member can break, as proxy-once sees them too: a body longer
/// or shorter than its `Content-Length`, a chunked body without its last
/// chunk, a connection closed mid-body.
#[test]
fn catalog_bodies_cut_short_or_mis_framed_name_the_member() -> Result<()> {
    let (_good, bad, gateway) = good_and_bad()?;
    let page = r#"{"repositories":["bad/a","bad/b","bad/c"]}"#;
    let len = page.len() as u64;
    let cases = [
        (
            Reply::json(page).framing(Framing::Declared(len + 100)),
            "cut short",
        ),
        (
            Reply::json(page).framing(Framing::Declared(len - 5)),
            "not a catalog",
        ),
        (
            Reply::json(page).framing(Framing::Chunked { complete: false }),
            "cut short",
        ),
        (Reply::json(page).close_after(10), "cut short"),
    ];
    for (reply, why) in cases {
        let framing = format!("{:?} closing after {:?}", reply.framing, reply.close_after);
        bad.on(CATALOG, reply);
        ensure_catalog_error(&get_catalog(&gateway)?, 502, &bad.host_port(), why)
            .with_context(|| framing)?;
    }
    // The same fault written by hand, as a proxy-once test would: a head,
    // part of the body, and the connection closed.
    let by_hand = FakeMember::start(|mut exchange| {
        exchange.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"repositories\":[")
    })?;
    let gateway_by_hand = Gateway::builder().members(&[by_hand.host_port()]).start()?;
    ensure_catalog_error(
        &get_catalog(&gateway_by_hand)?,
        502,
        &by_hand.host_port(),
        "cut short",
    )?;
    ensure!(by_hand.connections() >= 1, "the handler was reached");
    // A whole chunked page is fine.
    bad.on(
        CATALOG,
        Reply::json(page).framing(Framing::Chunked { complete: true }),
    );
    let answer = get_catalog(&gateway)?;
    ensure!(answer.status == 200, "{}", answer.body);
    ensure!(
        answer.body["repositories"].as_array().map(Vec::len) == Some(5),
        "{}",
        answer.body
    );
    Ok(())
}

/// The gateway contacts only members: a redirect, or a `Link` to another
/// host, is the member's error and is never followed.
#[test]
fn a_redirect_or_link_to_another_host_is_never_followed() -> Result<()> {
    let elsewhere = good_member()?;
    elsewhere.on(SEARCH, Reply::json(r#"{"data":{}}"#));
    let there = format!("http://{}", elsewhere.host_port());
    let redirecting = FakeMember::routes()?;
    redirecting.on(CATALOG, Reply::redirect(307, &format!("{there}{CATALOG}")));
    redirecting.on(SEARCH, Reply::redirect(302, &format!("{there}{SEARCH}")));
    let gateway = Gateway::builder()
        .members(&[redirecting.host_port()])
        .start()?;
    ensure_catalog_error(
        &get_catalog(&gateway)?,
        502,
        &redirecting.host_port(),
        "307",
    )?;
    let answer = search(&gateway, REPOS)?;
    ensure_search_error(&answer, &redirecting.host_port(), "302")?;
    ensure!(answer.body["data"].is_null(), "{}", answer.body);

    redirecting.on(
        CATALOG,
        Reply::json(r#"{"repositories":["a"]}"#).header(
            "Link",
            &format!("<{there}{CATALOG}?n=1&last=a>; rel=\"next\""),
        ),
    );
    ensure_catalog_error(
        &get_catalog(&gateway)?,
        502,
        &redirecting.host_port(),
        "another host",
    )?;
    ensure!(
        elsewhere.connections() == 0,
        "the other host was contacted: {:?}",
        elsewhere.requests()
    );
    Ok(())
}

/// Wrong types in a member's search answer were merged as if the member had
/// nothing (`Results` a string, items not objects), and an answer without
/// `data` made the whole field null with no error.
#[test]
fn search_answers_of_the_wrong_shape_name_the_member_and_keep_the_others_data() -> Result<()> {
    let node = Node::builder().search().start()?;
    push_small_image(&node.http(), "shape/kept", "v1")?;
    let bad = FakeMember::routes()?;
    let gateway = Gateway::builder()
        .members(&[node.host_port(), bad.host_port()])
        .start()?;
    let cases = [
        (
            r#"{"data":{"RepoListWithNewestImage":{"Page":{"TotalCount":1},"Results":"x"}}}"#,
            "Results",
        ),
        (
            r#"{"data":{"RepoListWithNewestImage":{"Page":[],"Results":[]}}}"#,
            "Page",
        ),
        (
            r#"{"data":{"RepoListWithNewestImage":{"Page":{"TotalCount":1},"Results":[1]}}}"#,
            "Results[0]",
        ),
        (r#"{"data":{"RepoListWithNewestImage":"x"}}"#, "a string"),
        (r#"{"data":{}}"#, "no `RepoListWithNewestImage`"),
        (r#"{"data":[]}"#, "data is []"),
        (r#"{"data":null}"#, "data is null"),
        ("{}", "neither data nor errors"),
        ("not json", "not a JSON object"),
    ];
    for (reply, why) in cases {
        bad.on(SEARCH, Reply::json(reply));
        let answer = search(&gateway, REPOS)?;
        ensure_search_error(&answer, &bad.host_port(), why).with_context(|| reply.to_owned())?;
        let results = &answer.body["data"]["RepoListWithNewestImage"]["Results"];
        ensure!(
            results == &json!([{"Name": "shape/kept"}]),
            "{reply}: {}",
            answer.body
        );
    }
    Ok(())
}

/// Only the wait for a member's response head was bounded: a member that
/// sent its head and then one byte a second held a fan-out past 120 s.
#[test]
fn a_member_that_drips_its_body_is_cut_at_the_fan_out_bound_and_named() -> Result<()> {
    let second = Duration::from_secs(1);
    let good = good_member()?;
    let drips = || -> Result<FakeMember> {
        let member = FakeMember::routes()?;
        member.on(
            CATALOG,
            Reply::json(r#"{"repositories":["slow/a"]}"#).drip(1, second),
        );
        member.on(SEARCH, Reply::json(r#"{"data":{}}"#).drip(1, second));
        Ok(member)
    };
    let (slow, slower) = (drips()?, drips()?);
    let partial = Gateway::builder()
        .members(&[good.host_port(), slow.host_port()])
        .fan_out(second)
        .partial()
        .start()?;
    let answer = get_catalog(&partial)?;
    ensure_only_good(&answer)?;
    ensure!(
        answer.took < Duration::from_secs(3),
        "took {:?}",
        answer.took
    );
    ensure!(
        answer
            .warnings
            .iter()
            .any(|w| w.contains(&slow.host_port())),
        "{:?}",
        answer.warnings
    );

    let failing = Gateway::builder()
        .members(&[good.host_port(), slow.host_port(), slower.host_port()])
        .fan_out(second)
        .start()?;
    let answer = get_catalog(&failing)?;
    ensure_catalog_error(&answer, 504, &slow.host_port(), "did not answer within")?;
    ensure!(
        answer.body["errors"][1]["detail"]["member"] == slower.host_port(),
        "every member not finished is named: {}",
        answer.body
    );

    let node = Node::builder().search().start()?;
    let searching = Gateway::builder()
        .members(&[node.host_port(), slow.host_port()])
        .fan_out(second)
        .start()?;
    let answer = search(&searching, REPOS)?;
    ensure_search_error(&answer, &slow.host_port(), "did not answer within")?;
    ensure!(
        answer.body["data"]["RepoListWithNewestImage"]["Page"]["TotalCount"] == 0,
        "{}",
        answer.body
    );
    Ok(())
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM in /proc/PID/status")?;
    Ok(kib * 1024)
}

#[test]
fn an_oversized_catalog_is_refused_in_bounded_memory() -> Result<()> {
    let mib = 1 << 20;
    let good = good_member()?;
    // 32 MiB of names, streamed as fast as the gateway reads.
    let mut big = b"{\"repositories\":[".to_vec();
    while big.len() < 32 * mib {
        big.extend_from_slice(b"\"big/repository\",");
    }
    big.extend_from_slice(b"\"big/last\"]}");
    let streaming = FakeMember::routes()?;
    streaming.on(
        CATALOG,
        Reply::json(big).framing(Framing::Chunked { complete: true }),
    );
    let declaring = FakeMember::routes()?;
    declaring.on(
        CATALOG,
        Reply::json("{}").framing(Framing::Declared(1 << 40)),
    );
    let gateway = Gateway::builder()
        .members(&[
            good.host_port(),
            streaming.host_port(),
            declaring.host_port(),
        ])
        .limit("mergedBodyBytes", mib)
        .limit("mergeBudgetBytes", 4 * mib)
        .partial()
        .start()?;
    let pid = gateway.pid().context("the gateway runs")?;
    let before = peak_rss(pid)?;
    let answer = get_catalog(&gateway)?;
    ensure_only_good(&answer)?;
    for member in [streaming.host_port(), declaring.host_port()] {
        ensure!(
            answer
                .warnings
                .iter()
                .any(|w| w.contains(&member) && w.contains("over 1048576 bytes")),
            "{member}: {:?}",
            answer.warnings
        );
    }
    let grown = peak_rss(pid)?.saturating_sub(before);
    ensure!(
        grown < 16 * mib as u64,
        "the gateway's peak grew {grown} bytes"
    );
    Ok(())
}

/// The value of the `flotilla_gateway_<name>` sample, from `/metrics`.
fn metric(gateway: &Gateway, name: &str) -> Result<f64> {
    let text = gateway.http().get("/metrics").send()?.text()?;
    let series = format!("flotilla_gateway_{name} ");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .with_context(|| format!("{name} in {text}"))?;
    Ok(value.trim().parse()?)
}

/// Eight concurrent merges of a 60 MB catalog held 507 MiB: what all merges
/// buffer is now bounded together, and a merge over it fails at once.
#[test]
fn merges_over_the_gateway_wide_budget_fail_at_once_naming_the_cause() -> Result<()> {
    let mib = 1 << 20;
    // Declares 3 MiB and sends it slowly: the first merge holds that much
    // of the budget until its fan-out ends.
    let holding = FakeMember::routes()?;
    let page = vec![b' '; 3 * mib];
    holding.on(
        CATALOG,
        Reply::json(page.clone()).drip(64 << 10, Duration::from_secs(1)),
    );
    holding.on(
        SEARCH,
        Reply::json(page).drip(64 << 10, Duration::from_secs(1)),
    );
    let gateway = Gateway::builder()
        .members(&[holding.host_port()])
        .limit("mergedBodyBytes", 4 * mib)
        .limit("mergeBudgetBytes", 4 * mib)
        .fan_out(Duration::from_secs(3))
        .start()?;
    std::thread::scope(|scope| -> Result<()> {
        let first = scope.spawn(|| get_catalog(&gateway));
        let waited = Instant::now();
        while metric(&gateway, "merge_budget_used_bytes")? < (3 * mib) as f64 {
            ensure!(
                waited.elapsed() < Duration::from_secs(2),
                "the first merge never charged"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let refused = get_catalog(&gateway)?;
        ensure!(refused.status == 503, "{}", refused.body);
        ensure!(
            refused.took < Duration::from_secs(1),
            "took {:?}",
            refused.took
        );
        let error = &refused.body["errors"][0];
        ensure!(
            error["detail"]["description"]
                .as_str()
                .unwrap_or_default()
                .contains("limits.mergeBudgetBytes"),
            "{}",
            refused.body
        );
        let answer = search(&gateway, REPOS)?;
        ensure!(
            answer.body["errors"][0]["extensions"]["code"] == "MERGE_BUDGET_EXHAUSTED",
            "{}",
            answer.body
        );
        ensure!(
            metric(&gateway, "merge_budget_refusals_total")? >= 2.0,
            "refusals counted"
        );
        let first = first
            .join()
            .map_err(|_| anyhow::anyhow!("the first GET panicked"))??;
        ensure_catalog_error(&first, 504, &holding.host_port(), "did not answer within")?;
        ensure!(
            metric(&gateway, "merge_budget_used_bytes")? == 0.0,
            "the budget is given back"
        );
        Ok(())
    })
}
