//! Search through the gateway when things go wrong: hostile documents refused before any member is asked, a dead or hung member leaving partial data and a named error.

use std::net::TcpListener;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Result};
use flotilla_e2e::cluster::push_small_image;
use flotilla_e2e::search_fixture::hostile::{self, ensure_refused_while_serving};
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

/// The repository names a `RepoListWithNewestImage` answer lists.
fn listed_names(body: &Value) -> Vec<&str> {
    body["data"]["RepoListWithNewestImage"]["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Name"].as_str())
        .collect()
}

/// The answer's only error is `MEMBER_UNAVAILABLE`, naming `member`.
fn ensure_only_unavailable(body: &Value, member: &str) -> Result<()> {
    ensure!(
        codes(body) == vec!["MEMBER_UNAVAILABLE".to_owned()],
        "{body}"
    );
    ensure!(
        body["errors"][0]["extensions"]["member"] == member,
        "{body}"
    );
    Ok(())
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
    let fragment_bomb = hostile::fragment_bomb(24);
    let nesting_bomb = hostile::nesting_bomb(4 << 10);
    let cases = [
        ("{ ImageList(repo: ", "GRAPHQL_PARSE_FAILED"),
        ("{ Nope }", "GRAPHQL_VALIDATION_FAILED"),
        (&format!("{{{bomb}}}") as &str, "GRAPHQL_VALIDATION_FAILED"),
        (&chain, "GRAPHQL_VALIDATION_FAILED"),
        (&fragment_bomb, "GRAPHQL_VALIDATION_FAILED"),
        (&nesting_bomb, "GRAPHQL_VALIDATION_FAILED"),
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

/// Hole: a kilobyte of fragments each spreading the next twice was expanded
/// to millions of fields on the gateway's async threads before any limit was
/// checked, stalling every other request for seconds; a MiB of nested
/// brackets goes to a recursive descent parser.
#[test]
fn fragment_and_nesting_bombs_are_refused_at_once_while_other_requests_keep_answering() -> Result<()>
{
    let cluster = Cluster::builder().search().nodes(2).start()?;
    ensure_refused_while_serving(
        &cluster.gateway().http(),
        &hostile::bombs("limits.searchFields"),
    )
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
    let listed = listed_names(&body);
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
    ensure_only_unavailable(&body, &hung_addr)?;
    drop(gateway);
    drop(holder);
    Ok(())
}

/// A TCP relay to a real node that closes any connection carrying a search
/// request once the returned allowance of them is spent (it starts
/// unbounded): a member lost between the two phases of a deep page, a fault
/// no real process makes on cue.
fn search_breaker(upstream: String) -> Result<(String, Arc<AtomicIsize>)> {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let allowance = Arc::new(AtomicIsize::new(isize::MAX));
    let searches = allowance.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (Ok(mut to_client), Ok(mut from_server)) = (client.try_clone(), server.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
            let searches = searches.clone();
            let (mut client, mut server) = (client, server);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let search = buf[..n]
                        .windows(b"/v2/_zot/ext/search".len())
                        .any(|w| w == b"/v2/_zot/ext/search");
                    if search && searches.fetch_sub(1, Ordering::SeqCst) <= 0 {
                        break;
                    }
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    Ok((addr, allowance))
}

#[test]
fn a_member_lost_between_the_phases_of_a_deep_page_is_left_out_whole() -> Result<()> {
    let lost = Node::builder().search().start()?;
    let kept = Node::builder().search().start()?;
    let (relay, allowance) = search_breaker(lost.host_port())?;
    let gateway = Gateway::builder()
        .members(&[relay.clone(), kept.host_port()])
        .start()?;
    let http = gateway.http();
    let mut on: [Vec<String>; 2] = Default::default();
    for i in 0..200 {
        let name = format!("deep/r{i:03}");
        let owner = gateway.owner(&name);
        if on[owner].len() < 6 {
            push_small_image(&http, &name, "v1")?;
            on[owner].push(name);
        }
        if on.iter().all(|names| names.len() == 6) {
            break;
        }
    }
    for names in &mut on {
        names.sort();
    }
    // The page starts past the first item and holds one of the lost
    // member's, and its items have a nested object: the gateway asks the
    // keys first, then the lost member for its window.
    let mut everything: Vec<&String> = on.iter().flatten().collect();
    everything.sort();
    let offset = everything
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, n)| on[0].contains(n))
        .map(|(i, _)| i)
        .expect("six names of twelve include one past the first");
    let query = format!(
        "{{ RepoListWithNewestImage(requestedPage: {{limit: 3, offset: {offset}, sortBy: ALPHABETIC_ASC}}) \
         {{ Page {{ TotalCount ItemCount }} Results {{ Name NewestImage {{ Tag }} }} }} }}"
    );
    // Both members answer phase one; the lost one is gone for phase two.
    allowance.store(1, Ordering::SeqCst);
    let (status, body) = search(&http, &query)?;
    ensure!(status == 200, "status {status}: {body}");
    // What the kept member alone gives for that page: no count of the lost
    // member's without its items.
    let alone: Vec<&String> = on[1].iter().skip(offset).take(3).collect();
    let listed = listed_names(&body);
    ensure!(
        listed == alone.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        "listed {listed:?}, the kept member's page {alone:?}: {body}"
    );
    ensure!(
        body["data"]["RepoListWithNewestImage"]["Page"]
            == json!({"TotalCount": 6, "ItemCount": alone.len()}),
        "{body}"
    );
    ensure_only_unavailable(&body, &relay)?;
    Ok(())
}

#[test]
fn with_every_member_dead_a_first_or_deep_page_is_null_with_each_member_named() -> Result<()> {
    let mut cluster = Cluster::builder().search().nodes(2).start()?;
    let members: Vec<String> = (0..2).map(|i| cluster.member(i).host_port()).collect();
    cluster.member_mut(0).kill()?;
    cluster.member_mut(1).kill()?;
    for page in ["limit: 2, offset: 0", "limit: 2, offset: 3"] {
        for items in ["Name", "Name NewestImage { Tag }"] {
            let query = format!(
                "{{ RepoListWithNewestImage(requestedPage: {{{page}}}) {{ Page {{ TotalCount }} Results {{ {items} }} }} }}"
            );
            let (status, body) = search(&cluster.gateway().http(), &query)?;
            ensure!(status == 200, "{query}: status {status}: {body}");
            ensure!(body["data"].is_null(), "{query}: {body}");
            ensure!(
                codes(&body) == vec!["MEMBER_UNAVAILABLE".to_owned(); 2],
                "{query}: {body}"
            );
            let named: Vec<&str> = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["extensions"]["member"].as_str())
                .collect();
            ensure!(
                members.iter().all(|m| named.contains(&m.as_str())),
                "{query}: {body}"
            );
        }
    }
    Ok(())
}
