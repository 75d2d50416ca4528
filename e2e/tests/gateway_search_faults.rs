//! Search through the gateway when things go wrong: hostile documents refused before any member is asked, a dead or hung member leaving partial data and a named error.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::{ensure, Result};
use flotilla_e2e::cluster::push_small_image;
use flotilla_e2e::{Cluster, Gateway, Node, Registry};
use serde_json::{json, Value};
use tokio::time::Instant;

/// GET `/v2/_zot/ext/search?query=…` and the answer's status and JSON.
fn search(http: &Registry, query: &str) -> Result<(u16, Value)> {
    let resp = http
        .get("/v2/_zot/ext/search")
        .query(&[("query", query)])
        .send()?;
    Ok((resp.status().as_u16(), resp.json()?))
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            e["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn hostile_documents_are_refused_by_the_gateway_without_asking_any_member() -> Result<()> {
    let mut cluster = Cluster::builder().search().nodes(2).start()?;
    // With every member dead, any answer that needed one would name it.
    cluster.member_mut(0).kill()?;
    cluster.member_mut(1).kill()?;
    let http = cluster.gateway().http();
    let started = Instant::now();

    let bomb: String = (0..64)
        .map(|i| format!("a{i}: RepoListWithNewestImage {{ Page {{ ItemCount }} }} "))
        .collect();
    let mut chain = String::from("{ __schema { types { ...f0 } } }");
    for i in 0..40 {
        chain.push_str(&format!(
            " fragment f{i} on __Type {{ ofType {{ ...f{} }} }}",
            i + 1
        ));
    }
    chain.push_str(" fragment f40 on __Type { name }");
    let cases = [
        ("{ ImageList(repo: ", "GRAPHQL_PARSE_FAILED"),
        ("{ Nope }", "GRAPHQL_VALIDATION_FAILED"),
        (&format!("{{{bomb}}}") as &str, "GRAPHQL_VALIDATION_FAILED"),
        (&chain, "GRAPHQL_VALIDATION_FAILED"),
    ];
    for (query, code) in cases {
        let (status, body) = search(&http, query)?;
        ensure!(status == 422, "{query:.40}: status {status} {body}");
        let found = codes(&body);
        ensure!(
            !found.is_empty() && found.iter().all(|c| c == code),
            "{query:.40}: {body}"
        );
    }
    let huge = json!({ "query": "{ __typename }", "variables": { "x": "y".repeat(2 << 20) } });
    let resp = http.post("/v2/_zot/ext/search").json(&huge).send()?;
    ensure!(resp.status() == 413, "a 2 MiB body: {}", resp.status());
    let resp = http
        .get("/v2/_zot/ext/search")
        .query(&[("query", "{__typename}"), ("variables", "{nope")])
        .send()?;
    ensure!(
        resp.status() == 400,
        "undecodable variables: {}",
        resp.status()
    );
    let (status, body) = search(&http, "{ __type(name: \"PageInfo\") { name } }")?;
    ensure!(
        status == 200 && body["data"]["__type"]["name"] == "PageInfo",
        "introspection is the gateway's own: {body}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "refusals took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn a_dead_member_leaves_the_others_data_and_an_error_naming_it() -> Result<()> {
    let mut cluster = Cluster::builder().search().nodes(3).start()?;
    let names = cluster.names_on_every_member(1, |i| format!("faults/repo{i}"))?;
    for name in &names {
        push_small_image(&cluster.gateway().http(), name, "v1")?;
    }
    let dead = cluster.member(0).host_port();
    cluster.member_mut(0).kill()?;
    let started = Instant::now();
    let (status, body) = search(
        &cluster.gateway().http(),
        "{ RepoListWithNewestImage { Page { TotalCount } Results { Name } } }",
    )?;
    ensure!(status == 200, "status {status}: {body}");
    ensure!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let listed: Vec<&str> = body["data"]["RepoListWithNewestImage"]["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Name"].as_str())
        .collect();
    let alive: Vec<&str> = names
        .iter()
        .filter(|n| cluster.owner(n) != 0)
        .map(String::as_str)
        .collect();
    ensure!(
        listed.len() == alive.len() && alive.iter().all(|n| listed.contains(n)),
        "listed {listed:?}, alive {alive:?}"
    );
    let error = &body["errors"][0];
    ensure!(
        error["extensions"]["code"] == "MEMBER_UNAVAILABLE",
        "{body}"
    );
    ensure!(error["extensions"]["member"] == dead.as_str(), "{body}");
    ensure!(
        error["path"] == json!(["RepoListWithNewestImage"]),
        "{body}"
    );
    Ok(())
}

#[test]
fn a_member_that_never_answers_is_cut_off_quickly() -> Result<()> {
    let node = Node::builder().search().start()?;
    // Accepts connections and never answers: a hung member.
    let hung = TcpListener::bind("127.0.0.1:0")?;
    let hung_addr = hung.local_addr()?.to_string();
    let holder = std::thread::spawn(move || {
        let _held: Vec<_> = hung.incoming().take(64).collect();
    });
    let gateway = Gateway::builder()
        .members(&[node.host_port(), hung_addr.clone()])
        .fan_out(Duration::from_secs(1))
        .start()?;
    let started = Instant::now();
    let (status, body) = search(
        &gateway.http(),
        "{ RepoListWithNewestImage { Page { TotalCount } } }",
    )?;
    ensure!(status == 200, "status {status}: {body}");
    ensure!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    ensure!(
        body["data"]["RepoListWithNewestImage"]["Page"]["TotalCount"] == 0,
        "{body}"
    );
    ensure!(
        codes(&body) == vec!["MEMBER_UNAVAILABLE".to_owned()],
        "{body}"
    );
    ensure!(
        body["errors"][0]["extensions"]["member"] == hung_addr.as_str(),
        "{body}"
    );
    drop(gateway);
    drop(holder);
    Ok(())
}
