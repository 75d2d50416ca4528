//! zot's UI login on the fleet: the gateway's own sessions, good on every gateway, in both stores.
//!
//! The oracle: zui's call sequence (login, home, explore with filters and
//! pages, a repository page, stars and bookmarks on repositories that live
//! on different members, the starred and bookmarked lists, logout) gets the
//! same answers from one node holding everything, which issues zot's own
//! sessions, and from three members behind two gateways, logged in through
//! one gateway and browsing through the other and through HAProxy in front
//! of both. Sealed cookies (`http.auth.sessionKeysFile`) and a shared Redis
//! (`http.auth.sessionDriver`) both; after a logout in Redis mode the old
//! cookie opens nothing on either gateway. Then the attacks: altered,
//! foreign-key, member-issued and other users' cookies; a member's cookies
//! never reach the client; `Secure` only where the client's connection is
//! TLS; key rotation; a gateway without keys refuses UI logins by name.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use flotilla_e2e::balancer::{requests_served, Balancer};
use flotilla_e2e::cluster::push_small_image;
use flotilla_e2e::redis::Redis;
use flotilla_e2e::search_fixture::{empty_node, ADMIN, DEV};
use flotilla_e2e::ui_session::{attributes, ensure_login, set_cookie, UiAnswer, UiClient};
use flotilla_e2e::{Gateway, Node, Registry};
use serde_json::{json, Value};

/// Fields the content decides: push times differ between the two sides.
const REPO_FIELDS: &str = "{Page {TotalCount ItemCount} Repos {Name StarCount IsStarred IsBookmarked NewestImage {Tag Digest}}}";
const LIST_FIELDS: &str =
    "{Page {TotalCount ItemCount} Results {Name StarCount IsStarred IsBookmarked}}";

/// A 64-byte hashKey, as zot's example file has.
const HASH_KEY: &str = "3lrioGLGO2RfG9Y7HQGgWa3ayBjMLw2auMXqEWcSXjQKc9SoQ3fKTIbO+toPYa7e";
const OTHER_HASH_KEY: &str = "another-gateway-key-that-is-long-enough-0123456789";

enum Store<'a> {
    Sealed(&'a Path),
    Shared(&'a Redis),
}

/// One node with everything, three members with the same spread by placement,
/// and two gateways in front of the members.
struct Sides {
    single: Node,
    members: Vec<Node>,
    gateways: Vec<Gateway>,
    /// One `team-a/…` repository (dev may read) on each member.
    team: Vec<String>,
}

fn write_keys(dir: &Path, name: &str, keys: Value) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&keys)?)?;
    Ok(path)
}

fn sessions(
    builder: flotilla_e2e::gateway::GatewayBuilder,
    store: &Store,
) -> flotilla_e2e::gateway::GatewayBuilder {
    match store {
        Store::Sealed(keys) => builder.setting("http.auth.sessionKeysFile", json!(keys)),
        Store::Shared(redis) => builder.setting(
            "http.auth.sessionDriver",
            json!({"name": "redis", "url": redis.url()}),
        ),
    }
}

impl Sides {
    fn start(store: &Store) -> Result<Self> {
        let single = empty_node()?;
        let members = (0..3).map(|_| empty_node()).collect::<Result<Vec<_>>>()?;
        let addrs: Vec<String> = members.iter().map(Node::host_port).collect();
        let gateways = (0..2)
            .map(|_| sessions(Gateway::builder().members(&addrs), store).start())
            .collect::<Result<Vec<_>>>()?;
        let gw = &gateways[0];
        let mut team = vec![String::new(); members.len()];
        for i in 0.. {
            let repo = format!("team-a/app-{i}");
            let owner = gw.owner(&repo);
            if team[owner].is_empty() {
                team[owner] = repo;
            }
            if team.iter().all(|r| !r.is_empty()) {
                break;
            }
        }
        let mut repos = team.clone();
        repos.extend(["public/web".to_owned(), "private/db".to_owned()]);
        for side in [single.http(), gw.http()] {
            let admin = side.as_user(ADMIN.0, ADMIN.1);
            for repo in &repos {
                push_small_image(&admin, repo, "v1")?;
            }
        }
        Ok(Self {
            single,
            members,
            gateways,
            team,
        })
    }
}

/// zui's home, explore and repository pages, in its call order.
fn browse_queries(team: &[String]) -> Vec<String> {
    let global = |search: &str, page: &str, filter: &str| {
        format!("{{GlobalSearch(query:\"{search}\", requestedPage: {{{page}}} {filter}) {REPO_FIELDS}}}")
    };
    let mut queries = vec![
        global("", "limit:3 offset:0 sortBy: ALPHABETIC_ASC", ""),
        global("", "limit:2 offset:0 sortBy: ALPHABETIC_DSC", ",filter: { IsBookmarked: true}"),
        global("", "limit:2 offset:0 sortBy: ALPHABETIC_ASC", ",filter: { IsStarred: true}"),
        global("app", "limit:2 offset:0 sortBy: ALPHABETIC_ASC", ",filter: { Os:[\"linux\"] Arch:[\"amd64\"]}"),
        global("app", "limit:2 offset:2 sortBy: ALPHABETIC_ASC", ",filter: { Os:[\"linux\"] Arch:[\"amd64\"]}"),
        format!("{{RepoListWithNewestImage(requestedPage: {{limit:10 offset:0 sortBy: ALPHABETIC_ASC}}) {LIST_FIELDS_NEWEST}}}"),
        format!("{{StarredRepos(requestedPage: {{limit:10 offset:0 sortBy: ALPHABETIC_ASC}}) {LIST_FIELDS}}}"),
        format!("{{BookmarkedRepos(requestedPage: {{limit:10 offset:0 sortBy: ALPHABETIC_ASC}}) {LIST_FIELDS}}}"),
    ];
    for repo in team {
        queries.push(format!(
            "{{ExpandedRepoInfo(repo:\"{repo}\") {{Summary {{Name StarCount IsStarred IsBookmarked NewestImage {{Tag Digest}}}} Images {{Tag Digest}}}}}}"
        ));
    }
    queries
}

const LIST_FIELDS_NEWEST: &str = "{Page {TotalCount ItemCount} Results {Name StarCount IsStarred IsBookmarked NewestImage {Tag Digest}}}";

/// One step of the sequence on both sides: the same request, the same answer.
fn alike(step: &str, single: &UiAnswer, fleet: &UiAnswer) -> Result<()> {
    ensure!(
        single.status == fleet.status,
        "{step}: one node answered {} ({}), the fleet {} ({})",
        single.status,
        single.body,
        fleet.status,
        fleet.body
    );
    let parse = |a: &UiAnswer| {
        serde_json::from_str::<Value>(&a.body).unwrap_or(Value::String(a.body.clone()))
    };
    ensure!(
        parse(single) == parse(fleet),
        "{step}: one node answered\n{}\nthe fleet\n{}",
        single.body,
        fleet.body
    );
    Ok(())
}

/// zui's sequence as dev: logged in on `login`, browsing on `browse`
/// (another gateway, or the balancer), against one node doing the same.
/// Each run toggles dev's stars: on after the first, off after the second.
/// Returns the fleet's client, still logged in, and its session cookie.
fn ui_sequence(
    sides: &Sides,
    login: &str,
    browse: &str,
    starred_after: bool,
) -> Result<(UiClient, String)> {
    let mut one = UiClient::new(&sides.single.url());
    let mut fleet = UiClient::new(login);
    let (a, b) = (one.login(DEV.0, DEV.1)?, fleet.login(DEV.0, DEV.1)?);
    ensure_login(&a, DEV.0, false).context("one node's login")?;
    ensure_login(&b, DEV.0, false).context("the fleet's login")?;
    let cookie = fleet
        .cookie("session")
        .context("no session kept")?
        .to_owned();
    let mut fleet = fleet.at(browse);
    for query in browse_queries(&sides.team) {
        alike(&query, &one.search(&query)?, &fleet.search(&query)?)?;
    }
    // Stars and bookmarks on repositories of every member.
    for repo in &sides.team {
        let (a, b) = (one.toggle_star(repo)?, fleet.toggle_star(repo)?);
        ensure!(
            a.status == 200,
            "star {repo} on one node: {} {}",
            a.status,
            a.body
        );
        alike(&format!("star {repo}"), &a, &b)?;
    }
    for repo in &sides.team[1..] {
        alike(
            &format!("bookmark {repo}"),
            &one.toggle_bookmark(repo)?,
            &fleet.toggle_bookmark(repo)?,
        )?;
    }
    // Every page again: the stars and bookmarks show alike everywhere.
    let queries = browse_queries(&sides.team);
    for query in &queries {
        alike(query, &one.search(query)?, &fleet.search(query)?)?;
    }
    let starred_query = queries
        .iter()
        .find(|q| q.starts_with("{StarredRepos"))
        .context("the starred list")?;
    let starred = fleet.search(starred_query)?.json()?;
    let names: Vec<&str> = starred["data"]["StarredRepos"]["Results"]
        .as_array()
        .context("StarredRepos")?
        .iter()
        .filter_map(|r| r["Name"].as_str())
        .collect();
    let want: Vec<&str> = match starred_after {
        true => sides.team.iter().map(String::as_str).collect(),
        false => Vec::new(),
    };
    ensure!(
        names.len() == want.len() && want.iter().all(|t| names.contains(t)),
        "dev's stars, on three members, are all listed: {names:?} in {starred}"
    );
    Ok((fleet, cookie))
}

/// What dev sees with the UI header and no session: the anonymous view.
const CATALOG_QUERY: &str = "{GlobalSearch(query:\"\", requestedPage: {limit:10 offset:0 sortBy: ALPHABETIC_ASC}) {Repos {Name}}}";

fn repo_names(answer: &UiAnswer) -> Result<Vec<String>> {
    let json = answer.json()?;
    Ok(json["data"]["GlobalSearch"]["Repos"]
        .as_array()
        .with_context(|| format!("no repositories: {}", answer.body))?
        .iter()
        .filter_map(|r| r["Name"].as_str().map(str::to_owned))
        .collect())
}

/// zot's refusal of a session: the cookie expired, the request anonymous.
fn ensure_refused(answer: &UiAnswer, what: &str) -> Result<()> {
    let expired =
        set_cookie(answer, "session").with_context(|| format!("{what}: no expiring cookie"))?;
    ensure!(
        expired == "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly",
        "{what}: {expired}"
    );
    ensure!(
        repo_names(answer)? == ["public/web"],
        "{what}: the request went on anonymous: {}",
        answer.body
    );
    Ok(())
}

fn run_sequence_through_two_gateways_and_haproxy(store: &Store) -> Result<(Sides, String)> {
    let sides = Sides::start(store)?;
    let [g1, g2] = [&sides.gateways[0], &sides.gateways[1]];
    // Log in on one gateway, browse through the other.
    let (mut fleet, first) = ui_sequence(&sides, &g1.url(), &g2.url(), true)?;
    let logout = fleet.logout()?;
    ensure!(
        logout.status == 200 && logout.body == "{}",
        "logout: {} {}",
        logout.status,
        logout.body
    );
    ensure!(
        fleet.cookie("session").is_none() && fleet.cookie("user").is_none(),
        "logout expires both cookies: {:?}",
        fleet.set_cookies
    );
    // The whole sequence again, through HAProxy in front of both; the stars
    // toggle back off, on both sides alike.
    let balancer = Balancer::haproxy(&[g1.host_port(), g2.host_port()])?;
    let before = [requests_served(g1)?, requests_served(g2)?];
    let (mut fleet, second) = ui_sequence(&sides, &balancer.url(), &balancer.url(), false)?;
    let after = [requests_served(g1)?, requests_served(g2)?];
    ensure!(
        after[0] > before[0] && after[1] > before[1],
        "HAProxy sent the UI's requests to both gateways: {before:?} → {after:?}"
    );
    let logout = fleet.logout()?;
    ensure!(
        logout.status == 200,
        "logout through HAProxy: {}",
        logout.status
    );
    ensure!(first != second, "each login is a new session");
    Ok((sides, second))
}

#[test]
fn zuis_sequence_through_two_gateways_with_sealed_sessions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = write_keys(
        dir.path(),
        "keys.json",
        json!({"hashKey": HASH_KEY, "encryptKey": "KOzt01JrDz2uC//UBC5ZikxQw4owfmI8"}),
    )?;
    run_sequence_through_two_gateways_and_haproxy(&Store::Sealed(&keys))?;
    Ok(())
}

#[test]
fn zuis_sequence_through_two_gateways_with_redis_and_logout_ends_the_session_everywhere(
) -> Result<()> {
    let redis = Redis::start()?;
    let (sides, cookie) = run_sequence_through_two_gateways_and_haproxy(&Store::Shared(&redis))?;
    ensure!(
        redis.keys("zotsession:*")?.is_empty(),
        "logout left sessions in Redis: {:?}",
        redis.keys("*")?
    );
    for gw in &sides.gateways {
        let mut stolen = UiClient::new(&gw.url());
        stolen.set_cookie("session", &cookie);
        ensure_refused(
            &stolen.search(CATALOG_QUERY)?,
            &format!("the logged-out cookie on {}", gw.url()),
        )?;
    }
    // A live session is one Redis entry whose name is not the cookie.
    let mut ui = UiClient::new(&sides.gateways[0].url());
    ensure_login(&ui.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let keys = redis.keys("zotsession:*")?;
    let cookie = ui.cookie("session").context("session")?.to_owned();
    ensure!(
        keys.len() == 1 && !keys[0].contains(&cookie),
        "{keys:?} vs {cookie}"
    );
    // Redis expires the session with the cookie's lifetime; once it has, the
    // cookie opens nothing (the TTL is cut short here, as two hours pass).
    let ttl = redis.ttl(&keys[0])?;
    ensure!(
        (7100..=7200).contains(&ttl),
        "the session lives two hours in Redis: {ttl} s"
    );
    let mut short = UiClient::new(&sides.gateways[0].url());
    ensure_login(&short.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let newest = redis
        .keys("zotsession:*")?
        .into_iter()
        .find(|k| *k != keys[0])
        .context("the second session")?;
    redis.expire_in_ms(&newest, 50)?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    ensure_refused(&short.search(CATALOG_QUERY)?, "an expired session")?;
    // A Redis that is gone fails the request by name; it logs nobody out.
    drop(redis);
    let answer = ui.at(&sides.gateways[1].url()).search(CATALOG_QUERY)?;
    ensure!(
        answer.status == 503 && answer.body.contains("session store"),
        "without Redis: {} {}",
        answer.status,
        answer.body
    );
    ensure!(
        set_cookie(&answer, "session").is_none(),
        "the cookie is kept: {:?}",
        answer.headers
    );
    Ok(())
}

#[test]
fn sessions_that_do_not_open_are_refused_as_zot_refuses_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = write_keys(dir.path(), "keys.json", json!({"hashKey": HASH_KEY}))?;
    let sides = Sides::start(&Store::Sealed(&keys))?;
    let gw = &sides.gateways[0];

    let mut dev = UiClient::new(&gw.url());
    let login = dev.login(DEV.0, DEV.1)?;
    ensure_login(&login, DEV.0, false)?;
    // Exactly the gateway's two cookies: the member that checked the
    // credentials issued none (it was not asked as the UI), and kept no session.
    ensure!(
        login.headers.get_all("set-cookie").iter().count() == 2,
        "{:?}",
        login.headers
    );
    for member in &sides.members {
        let sessions = member.root_dir().join("_sessions");
        let held = std::fs::read_dir(&sessions).map(|d| d.count()).unwrap_or(0);
        ensure!(
            held == 0,
            "member {} holds {held} sessions of the gateway's users",
            member.url()
        );
    }
    let good = dev.cookie("session").context("session")?.to_owned();
    let dev_view = repo_names(&dev.search(CATALOG_QUERY)?)?;
    ensure!(
        dev_view
            == sides
                .team
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>(),
        "dev reads team-a/** only: {dev_view:?}"
    );

    // Altered: every position of the cookie.
    for i in (0..good.len()).step_by(7) {
        let mut bytes = good.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let mut forged = UiClient::new(&gw.url());
        forged.set_cookie("session", std::str::from_utf8(&bytes)?);
        ensure_refused(&forged.search(CATALOG_QUERY)?, &format!("altered at {i}"))?;
    }
    // Sealed by another gateway's keys.
    let other_keys = write_keys(dir.path(), "other.json", json!({"hashKey": OTHER_HASH_KEY}))?;
    let addrs: Vec<String> = sides.members.iter().map(Node::host_port).collect();
    let other = sessions(
        Gateway::builder().members(&addrs),
        &Store::Sealed(&other_keys),
    )
    .start()?;
    let mut elsewhere = UiClient::new(&other.url());
    ensure_login(&elsewhere.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let foreign = elsewhere.cookie("session").context("session")?.to_owned();
    let mut foreign_ui = UiClient::new(&gw.url());
    foreign_ui.set_cookie("session", &foreign);
    ensure_refused(
        &foreign_ui.search(CATALOG_QUERY)?,
        "a cookie sealed under other keys",
    )?;
    // A member's cookies never reach the client: a member answers an
    // anonymous UI request with zot's expiring session cookie; through the
    // gateway, which holds no session to expire, there is none.
    // `/v2/` is passed to one member as it is.
    let at_member = UiClient::new(&sides.members[0].url()).get("/v2/")?;
    ensure!(
        at_member.status == 200 && set_cookie(&at_member, "session").is_some(),
        "the member sets a cookie: {:?}",
        at_member.headers
    );
    let through = UiClient::new(&gw.url()).get("/v2/")?;
    ensure!(
        through.status == 200 && through.headers.get_all("set-cookie").iter().count() == 0,
        "a member's Set-Cookie reached the client: {:?}",
        through.headers
    );
    // A member's own session cookie means nothing to the gateway.
    let mut at_member = UiClient::new(&sides.members[0].url());
    ensure_login(&at_member.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let mut member_cookie = UiClient::new(&gw.url());
    member_cookie.set_cookie(
        "session",
        at_member.cookie("session").context("member session")?,
    );
    ensure_refused(
        &member_cookie.search(CATALOG_QUERY)?,
        "a member's session cookie",
    )?;
    // The `user` cookie says nothing: dev's session with `user=admin` is dev.
    let mut renamed = dev.clone();
    renamed.set_cookie("user", ADMIN.0);
    ensure!(
        repo_names(&renamed.search(CATALOG_QUERY)?)? == dev_view,
        "a session authenticates its own user only"
    );
    let mut admin = UiClient::new(&gw.url());
    ensure_login(&admin.login(ADMIN.0, ADMIN.1)?, ADMIN.0, false)?;
    let admin_view = repo_names(&admin.search(CATALOG_QUERY)?)?;
    ensure!(
        admin_view.len() == 5,
        "admin sees everything: {admin_view:?}"
    );
    // Credentials beat a cookie, as in zot: admin's Basic with dev's session is admin.
    let both = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v2/_zot/ext/search?query={}",
            gw.url(),
            percent_encoding::utf8_percent_encode(
                CATALOG_QUERY,
                percent_encoding::NON_ALPHANUMERIC
            )
        ))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-ZOT-API-CLIENT", "zot-ui")
        .header("Cookie", format!("session={good}"))
        .send()?;
    let both = UiAnswer {
        status: both.status().as_u16(),
        headers: both.headers().clone(),
        body: both.text()?,
    };
    ensure!(
        repo_names(&both)? == admin_view,
        "credentials win over a session: {}",
        both.body
    );
    // No challenge reaches the UI: a refused login asks the browser nothing.
    let refused = UiClient::new(&gw.url()).login(DEV.0, "wrong")?;
    ensure!(
        refused.status == 401,
        "a wrong password: {}",
        refused.status
    );
    ensure!(
        !refused.headers.contains_key("www-authenticate"),
        "{:?}",
        refused.headers
    );
    ensure!(
        set_cookie(&refused, "session").is_none(),
        "no session for a wrong password"
    );
    ensure!(
        serde_json::from_str::<Value>(&refused.body)?["code"] == "UNAUTHORIZED",
        "zot's single-object authFail body: {}",
        refused.body
    );
    // Without the UI header a cookie is nothing (zot reads it only for the UI).
    let plain = Registry::new(&gw.url())
        .get("/v2/_catalog")
        .header("Cookie", format!("session={good}"))
        .send()?;
    let catalog: Value = plain.json()?;
    ensure!(
        catalog["repositories"] == json!(["public/web"]),
        "no header, anonymous: {catalog}"
    );
    Ok(())
}

#[test]
fn rotated_keys_open_old_sessions_until_dropped_and_keyless_gateways_refuse_ui_logins() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let keys = write_keys(dir.path(), "keys.json", json!({"hashKey": HASH_KEY}))?;
    let mut sides = Sides::start(&Store::Sealed(&keys))?;
    let mut dev = UiClient::new(&sides.gateways[0].url());
    ensure_login(&dev.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let before = repo_names(&dev.search(CATALOG_QUERY)?)?;

    let rotate = |sides: &mut Sides, keys: Value| -> Result<()> {
        write_keys(dir.path(), "keys.json", keys)?;
        let gw = &mut sides.gateways[0];
        let config = std::fs::read_to_string(gw.config_path())?;
        gw.reload_in_force(&config)
    };
    rotate(
        &mut sides,
        json!({"hashKey": OTHER_HASH_KEY, "previous": [{"hashKey": HASH_KEY}]}),
    )?;
    ensure!(
        repo_names(&dev.search(CATALOG_QUERY)?)? == before,
        "the previous key still opens"
    );
    let mut fresh = UiClient::new(&sides.gateways[0].url());
    ensure_login(&fresh.login(DEV.0, DEV.1)?, DEV.0, false)?;
    rotate(&mut sides, json!({"hashKey": OTHER_HASH_KEY}))?;
    ensure_refused(
        &dev.search(CATALOG_QUERY)?,
        "a session sealed under a dropped key",
    )?;
    ensure!(
        repo_names(&fresh.search(CATALOG_QUERY)?)? == before,
        "the new key opens"
    );

    // No keys: a UI login is refused by name, and the start-up log says why.
    let addrs: Vec<String> = sides.members.iter().map(Node::host_port).collect();
    let keyless = Gateway::builder().members(&addrs).start()?;
    let answer = UiClient::new(&keyless.url()).login(DEV.0, DEV.1)?;
    ensure!(
        answer.status == 501 && answer.body.contains("http.auth.sessionKeysFile"),
        "{} {}",
        answer.status,
        answer.body
    );
    ensure!(
        keyless.log().contains("UI logins are off"),
        "{}",
        keyless.log()
    );
    // Everything but the UI login works as before.
    let catalog = keyless
        .http()
        .as_user(DEV.0, DEV.1)
        .get("/v2/_catalog")
        .send()?;
    ensure!(catalog.status() == 200, "{}", catalog.status());
    Ok(())
}

#[test]
fn cookies_are_secure_only_where_the_client_connection_is_tls() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = write_keys(dir.path(), "keys.json", json!({"hashKey": HASH_KEY}))?;
    let node = empty_node()?;
    let addrs = vec![node.host_port()];
    let trusting = Gateway::builder()
        .members(&addrs)
        .setting("http.auth.sessionKeysFile", json!(keys))
        .setting("http.trustedProxies", json!(["127.0.0.1"]))
        .start()?;
    let untrusting = Gateway::builder()
        .members(&addrs)
        .setting("http.auth.sessionKeysFile", json!(keys))
        .start()?;
    let login = |gw: &Gateway, proto: Option<&str>| -> Result<UiAnswer> {
        let mut builder = reqwest::blocking::Client::new()
            .get(format!("{}/v2/", gw.url()))
            .basic_auth(DEV.0, Some(DEV.1))
            .header("X-ZOT-API-CLIENT", "zot-ui");
        if let Some(proto) = proto {
            builder = builder.header("X-Forwarded-Proto", proto);
        }
        let resp = builder.send()?;
        Ok(UiAnswer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text()?,
        })
    };
    ensure_login(&login(&trusting, Some("https"))?, DEV.0, true)
        .context("a trusted balancer's TLS")?;
    ensure_login(&login(&trusting, None)?, DEV.0, false).context("plain HTTP")?;
    ensure_login(&login(&untrusting, Some("https"))?, DEV.0, false)
        .context("anyone's X-Forwarded-Proto")?;
    let answer = login(&trusting, Some("https"))?;
    let session = set_cookie(&answer, "session").context("session")?;
    ensure!(
        attributes(session).contains(&"Secure".to_owned()),
        "{session}"
    );
    Ok(())
}

/// A real browser: Chromium loads the suite's own page from the gateway
/// (`extensions.ui.directory`), logs in with `fetch`, and its own cookie
/// jar carries the session to searches and to a star on another member;
/// the page never reads the HttpOnly session cookie, only `user`; logout
/// empties the jar, and the browser is anonymous again.
#[test]
fn a_browser_carries_the_session_in_its_own_cookie_jar() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let keys = write_keys(dir.path(), "keys.json", json!({"hashKey": HASH_KEY}))?;
    let page = flotilla_e2e::env::repo_root().join("e2e/fixtures/ui-session-page");
    let store = Store::Sealed(&keys);
    let sides = Sides::start(&store)?;
    let addrs: Vec<String> = sides.members.iter().map(Node::host_port).collect();
    let gw = sessions(Gateway::builder().members(&addrs), &store)
        .setting(
            "extensions",
            json!({"ui": {"enable": true, "directory": page}}),
        )
        .start()?;
    // A repository on a member other than the one `/v2/` happened to reach.
    let repo = &sides.team[2];
    let url = format!(
        "{}/?user={}&password={}&repo={}",
        gw.url(),
        DEV.0,
        DEV.1,
        percent_encoding::utf8_percent_encode(repo, percent_encoding::NON_ALPHANUMERIC)
    );
    let dom = flotilla_e2e::clients::chromium::dump_dom(&url, &dir.path().join("profile"))?;
    let seen: Value =
        serde_json::from_str(&flotilla_e2e::clients::chromium::element_text(&dom, "out")?)
            .with_context(|| format!("the page did not finish: {dom}"))?;
    let team: Vec<&str> = sides.team.iter().map(String::as_str).collect();
    let mut sorted = team.clone();
    sorted.sort();
    ensure!(seen["login"] == 200, "{seen}");
    ensure!(
        seen["cookieAfterLogin"] == "user=dev",
        "the page reads `user`, never the HttpOnly session: {seen}"
    );
    ensure!(
        seen["repos"] == json!(sorted),
        "searches carry dev's session: {seen}"
    );
    ensure!(
        seen["star"] == 200 && seen["starred"] == json!([repo]),
        "the star reached its member as dev: {seen}"
    );
    ensure!(
        seen["logout"] == 200 && seen["cookieAfterLogout"] == "",
        "{seen}"
    );
    ensure!(
        seen["reposAfterLogout"] == json!(["public/web"]),
        "anonymous after logout: {seen}"
    );
    // The star is dev's, on the repository's own member.
    let starred = UiClient::new(&gw.url());
    let mut dev = starred;
    ensure_login(&dev.login(DEV.0, DEV.1)?, DEV.0, false)?;
    let answer = dev.search("{StarredRepos{Results{Name}}}")?.json()?;
    ensure!(
        answer["data"]["StarredRepos"]["Results"] == json!([{"Name": repo}]),
        "{answer}"
    );
    Ok(())
}

/// The UI's files: a node with `extensions.ui.directory` serves them as zot
/// serves its embedded UI, and a gateway without a directory of its own
/// passes UI paths to a member, byte for byte.
#[test]
fn the_uis_files_come_from_a_member_when_the_gateway_has_none() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let build = dir.path().join("build");
    std::fs::create_dir_all(build.join("static/js"))?;
    std::fs::write(
        build.join("index.html"),
        "<!doctype html><title>zui</title>",
    )?;
    std::fs::write(
        build.join("static/js/main.0a1b2c.js"),
        "console.log('zui');",
    )?;
    let nodes = (0..2)
        .map(|_| {
            Node::builder()
                .htpasswd(&flotilla_e2e::search_fixture::users())
                .access_control(flotilla_e2e::search_fixture::access_control())
                .search()
                .setting("extensions.ui.directory", json!(build))
                .start()
        })
        .collect::<Result<Vec<_>>>()?;
    let addrs: Vec<String> = nodes.iter().map(Node::host_port).collect();
    let gw = Gateway::builder().members(&addrs).start()?;
    let get = |base: &str, path: &str| -> Result<(u16, String, String, String)> {
        let resp = reqwest::blocking::get(format!("{base}{path}"))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, cache) = (header("content-type"), header("cache-control"));
        Ok((resp.status().as_u16(), content_type, cache, resp.text()?))
    };
    for path in [
        "/",
        "/home",
        "/explore",
        "/image/team-a%2Fapp/tag/v1",
        "/static/js/main.0a1b2c.js",
        "/static/js/missing.js",
    ] {
        let direct = get(&nodes[0].url(), path)?;
        let through = get(&gw.url(), path)?;
        ensure!(
            direct == through,
            "{path}: the node answered {direct:?}, the gateway {through:?}"
        );
        match path {
            "/static/js/missing.js" => ensure!(direct.0 == 404, "{path}: {direct:?}"),
            "/static/js/main.0a1b2c.js" => ensure!(
                direct.0 == 200
                    && direct.1.contains("javascript")
                    && direct.2 == "public, max-age=31536000, immutable",
                "{path}: {direct:?}"
            ),
            _ => ensure!(
                direct.0 == 200
                    && direct.1.starts_with("text/html")
                    && direct.2 == "no-cache"
                    && direct.3.contains("<title>zui</title>"),
                "{path}: {direct:?}"
            ),
        }
    }
    // The API is never the UI: an unknown API path stays zot's 404.
    ensure!(
        get(&gw.url(), "/v2/_zot/ext/nope")?.0 == 404,
        "API paths are not UI routes"
    );
    Ok(())
}
