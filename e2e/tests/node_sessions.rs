//! zui logs in to a node as zot lets it: Basic credentials once with zui's header, then a `session` cookie on every request until logout, across restarts.
//!
//! The users and policies are the search fixture's: admin may do everything,
//! dev reads `team-a/**`, anonymous callers read `public/**`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use flotilla_e2e::search_fixture::{self, graphql::SEARCH_PATH, ADMIN, DEV};
use flotilla_e2e::{push_small_image, Node, Users};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const UI_HEADER: &str = "X-ZOT-API-CLIENT";
const UI_VALUE: &str = "zot-ui";
/// What the node sets when zui's cookie names no live session.
const EXPIRING: &str = "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly";
const LOGGED_OUT: [&str; 2] = [
    "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
    "user=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
];
const REPOS: &str = "{RepoListWithNewestImage{Results{Name}}}";
const STARRED: &str = "{StarredRepos{Results{Name}}}";

/// The fixture's users and policies with search and the UI on, holding one
/// repository each caller sees differently.
fn fixture_node() -> Result<Node> {
    let node = search_fixture::empty_node()?;
    let admin = node.http().as_user(ADMIN.0, ADMIN.1);
    for repo in ["team-a/app", "public/web", "private/db"] {
        push_small_image(&admin, repo, "v1")?;
    }
    Ok(node)
}

/// Basic authentication only: without an anonymous policy nobody gets in unauthenticated.
fn alice_only_node() -> Result<Node> {
    Node::builder()
        .htpasswd(&Users::new().with("alice", "alice-secret"))
        .start()
}

/// zui's request: its header, and the session cookie when it has one.
fn from_ui(request: RequestBuilder, session: Option<&str>) -> RequestBuilder {
    let request = request.header(UI_HEADER, UI_VALUE);
    match session {
        Some(token) => request.header("Cookie", format!("session={token}")),
        None => request,
    }
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("<not text>").to_owned())
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Logs `user` in as zui does (`GET /v2/` with Basic credentials and the UI
/// header), checks both cookies attribute by attribute, and returns the token.
fn ui_login(node: &Node, (user, password): (&str, &str)) -> Result<String> {
    let before = unix_now();
    let response = from_ui(node.http().as_user(user, password).get("/v2/"), None).send()?;
    let after = unix_now();
    ensure!(response.status() == 200, "login: {}", response.status());
    ensure!(
        response.headers().get("www-authenticate").is_none(),
        "zui gets no challenge"
    );
    let cookies = set_cookies(&response);
    ensure!(cookies.len() == 2, "two cookies expected: {cookies:?}");
    let (token, session_attributes) = cookies[0]
        .strip_prefix("session=")
        .and_then(|rest| rest.split_once("; "))
        .with_context(|| format!("not a session cookie: {}", cookies[0]))?;
    ensure!(
        token.len() == 43
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "the token is 32 bytes of base64url without padding: {token}"
    );
    let expected = (before..=after)
        .map(|t| format!("Path=/; Expires={}; Max-Age=7200", http_date(t + 7200)))
        .find(|attributes| session_attributes == format!("{attributes}; HttpOnly"))
        .with_context(|| format!("session cookie: {}", cookies[0]))?;
    ensure!(
        cookies[1] == format!("user={user}; {expected}"),
        "user cookie (readable by the UI, not HttpOnly): {}",
        cookies[1]
    );
    Ok(token.to_owned())
}

/// Go's `http.TimeFormat` of a unix time, as `Expires` carries it.
fn http_date(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 1970-01-01 was a Thursday.
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn catalog(response: Response) -> Result<Vec<String>> {
    ensure!(response.status() == 200, "catalog: {}", response.status());
    let body: Value = response.json()?;
    Ok(serde_json::from_value(body["repositories"].clone())?)
}

/// The names a search lists, from a `Results{Name}` answer.
fn names(response: Response, field: &str) -> Result<Vec<String>> {
    ensure!(response.status() == 200, "search: {}", response.status());
    let body: Value = response.json()?;
    let mut names: Vec<String> = body["data"][field]["Results"]
        .as_array()
        .with_context(|| format!("no results: {body}"))?
        .iter()
        .filter_map(|r| r["Name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

#[test]
fn a_ui_session_sees_what_its_user_sees_until_logout() -> Result<()> {
    let node = fixture_node()?;
    let http = node.http();
    let dev = http.as_user(DEV.0, DEV.1);
    let token = ui_login(&node, DEV)?;

    // The cookie alone (with zui's header) is dev, exactly as Basic is.
    let by_cookie = catalog(from_ui(http.get("/v2/_catalog"), Some(&token)).send()?)?;
    // Users do not get the anonymous policy: dev reads `team-a/**` only.
    assert_eq!(by_cookie, ["team-a/app"]);
    assert_eq!(by_cookie, catalog(dev.get("/v2/_catalog").send()?)?);
    let search = |request: RequestBuilder| -> Result<Vec<String>> {
        names(
            request.query(&[("query", REPOS)]).send()?,
            "RepoListWithNewestImage",
        )
    };
    assert_eq!(
        search(from_ui(http.get(SEARCH_PATH), Some(&token)))?,
        search(dev.get(SEARCH_PATH))?
    );
    assert_eq!(
        search(from_ui(http.get(SEARCH_PATH), Some(&token)))?,
        ["team-a/app"]
    );

    // zot authenticates a cookie only with zui's header: without it, anonymous.
    let plain = http
        .get("/v2/_catalog")
        .header("Cookie", format!("session={token}"))
        .send()?;
    assert!(set_cookies(&plain).is_empty());
    assert_eq!(catalog(plain)?, ["public/web"]);

    // A star toggled through the session is dev's.
    let star = "/v2/_zot/ext/userprefs?action=toggleStar&repo=team-a/app";
    let anonymous_star = from_ui(http.put(star), None).send()?;
    assert_eq!(anonymous_star.status(), 403);
    assert_eq!(set_cookies(&anonymous_star), [EXPIRING]);
    assert_eq!(from_ui(http.put(star), Some(&token)).send()?.status(), 200);
    let starred = names(
        dev.get(SEARCH_PATH).query(&[("query", STARRED)]).send()?,
        "StarredRepos",
    )?;
    assert_eq!(starred, ["team-a/app"]);

    // Logout: 200 `{}`, both cookies expired, zot's UI headers.
    let preflight = http
        .request(reqwest::Method::OPTIONS, "/zot/auth/logout")
        .send()?;
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "POST,OPTIONS"
    );
    let logout = from_ui(http.post("/zot/auth/logout"), Some(&token)).send()?;
    assert_eq!(logout.status(), 200);
    assert_eq!(set_cookies(&logout), LOGGED_OUT);
    let headers = logout.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["access-control-allow-methods"], "POST,OPTIONS");
    assert_eq!(
        headers["access-control-allow-headers"],
        "Authorization,content-type,X-ZOT-API-CLIENT"
    );
    assert_eq!(logout.json::<Value>()?, json!({}));
    assert_eq!(http.get("/zot/auth/logout").send()?.status(), 405);

    // The old cookie is dead: the browser is told to drop it, and the UI is anonymous.
    let after = from_ui(http.get("/v2/_catalog"), Some(&token)).send()?;
    assert_eq!(set_cookies(&after), [EXPIRING]);
    assert_eq!(catalog(after)?, ["public/web"]);
    // Logging out again, or with no cookie at all, answers the same.
    let again = from_ui(http.post("/zot/auth/logout"), Some(&token)).send()?;
    assert_eq!(again.status(), 200);
    assert_eq!(set_cookies(&again), LOGGED_OUT);
    Ok(())
}

#[test]
fn a_cookie_naming_no_session_is_expired_and_refused_without_anonymous_access() -> Result<()> {
    let node = alice_only_node()?;
    let http = node.http();
    let token = ui_login(&node, ("alice", "alice-secret"))?;
    let mut tampered = token.clone().into_bytes();
    tampered[20] = if tampered[20] == b'Q' { b'R' } else { b'Q' };
    let tampered = String::from_utf8(tampered)?;

    for session in [Some(tampered.as_str()), Some("forged"), None] {
        let response = from_ui(http.get("/v2/_catalog"), session).send()?;
        assert_eq!(response.status(), 401, "{session:?}");
        assert_eq!(set_cookies(&response), [EXPIRING], "{session:?}");
        assert!(response.headers().get("www-authenticate").is_none());
        let body: Value = response.json()?;
        assert_eq!(
            body["code"], "UNAUTHORIZED",
            "zot's single-object authFail: {body}"
        );
    }
    // Basic credentials win over a cookie, even a dead one.
    let basic = from_ui(
        http.as_user("alice", "alice-secret").get("/v2/_catalog"),
        Some(&tampered),
    )
    .send()?;
    assert_eq!(basic.status(), 200);
    // The genuine cookie works.
    let genuine = from_ui(http.get("/v2/_catalog"), Some(&token)).send()?;
    assert_eq!(genuine.status(), 200);
    assert!(set_cookies(&genuine).is_empty());
    Ok(())
}

#[test]
fn a_session_survives_a_restart_and_its_store_is_no_repository() -> Result<()> {
    let mut node = alice_only_node()?;
    push_small_image(&node.http().as_user("alice", "alice-secret"), "app", "v1")?;
    let token = ui_login(&node, ("alice", "alice-secret"))?;

    // The server keeps the hash of the token, never the token (beside the
    // directory its files are written through).
    let mut sessions: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(node.root_dir().join("_sessions"))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            sessions.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let hashed = format!("session_{}", hex::encode(Sha256::digest(token.as_bytes())));
    assert_eq!(sessions, [hashed]);

    node.restart()?;
    let response = from_ui(node.http().get("/v2/_catalog"), Some(&token)).send()?;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(catalog(response)?, ["app"]);
    let by_basic = node
        .http()
        .as_user("alice", "alice-secret")
        .get("/v2/_catalog")
        .send()?;
    assert_eq!(catalog(by_basic)?, ["app"]);
    Ok(())
}

#[test]
fn without_basic_authentication_there_is_no_logout() -> Result<()> {
    let node = Node::start()?;
    let response = node.http().post("/zot/auth/logout").send()?;
    assert_eq!(response.status(), 404);
    assert!(set_cookies(&response).is_empty());
    Ok(())
}
