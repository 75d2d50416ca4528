//! zui's login sessions through `Access`, as zot's authn middleware treats them: login, cookie authentication, refusal, logout.

use http::{HeaderMap, HeaderValue};

use super::request::UI_HEADER;
use super::tests::{basic, headers, mixed_policies, uri, user, Setup};
use super::*;

const EXPIRING: &str = "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly";

fn from_ui(mut hdrs: HeaderMap) -> HeaderMap {
    hdrs.insert(UI_HEADER, HeaderValue::from_static("zot-ui"));
    hdrs
}

fn with_cookie(token: &str) -> HeaderMap {
    headers(&[("cookie", &format!("theme=dark; session={token}"))])
}

async fn ask(access: &Access, path: &str, hdrs: &HeaderMap) -> Authenticated {
    access.authenticate(&uri(path), hdrs).await
}

/// Logs `name` in from zui and returns the session token.
async fn ui_login(access: &Access, name: &str, password: &str) -> String {
    let got = ask(access, "/v2/", &from_ui(basic(name, password))).await;
    assert!(got.who.is_ok(), "{:?}", got.who);
    let session = &got.cookies.values()[0];
    let token = session
        .strip_prefix("session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    token.to_owned()
}

#[tokio::test]
async fn a_ui_login_sets_both_cookies_and_the_session_is_that_user_with_their_groups() {
    let setup = Setup::new(&[("carol", "c"), ("alice", "a")], Some(mixed_policies()));
    let access = setup.access();
    assert!(access.ui_sessions());

    let got = ask(&access, "/v2/", &from_ui(basic("carol", "c"))).await;
    assert_eq!(got.who.unwrap(), user("carol", &["devs"]));
    let [session, user_cookie] = got.cookies.values() else {
        panic!("two cookies expected: {:?}", got.cookies);
    };
    let (token, attributes) = session
        .strip_prefix("session=")
        .and_then(|rest| rest.split_once("; "))
        .unwrap();
    assert_eq!(token.len(), 43);
    assert!(attributes.starts_with("Path=/; Expires="), "{session}");
    assert!(
        attributes.ends_with(" GMT; Max-Age=7200; HttpOnly"),
        "{session}"
    );
    assert_eq!(
        user_cookie,
        &format!(
            "user=carol; {}",
            &attributes[..attributes.len() - "; HttpOnly".len()]
        )
    );

    // zui's later requests: the cookie and the header, no credentials.
    let again = ask(
        &access,
        "/v2/team/app/tags/list",
        &from_ui(with_cookie(token)),
    )
    .await;
    assert_eq!(again.who.unwrap(), user("carol", &["devs"]));
    assert_eq!(again.cookies, SetCookies::default());

    // Without zui's header the cookie is not looked at: anonymous, as in zot.
    let plain = ask(&access, "/v2/team/app/tags/list", &with_cookie(token)).await;
    assert_eq!(plain.who.unwrap(), Identity::Anonymous);
    assert_eq!(plain.cookies, SetCookies::default());

    // A Basic login from anything but zui starts no session.
    let cli = ask(&access, "/v2/", &basic("carol", "c")).await;
    assert!(cli.who.is_ok());
    assert_eq!(cli.cookies, SetCookies::default());
}

#[tokio::test]
async fn credentials_win_over_the_cookie_even_when_they_fail() {
    let setup = Setup::new(&[("carol", "c"), ("alice", "a")], Some(mixed_policies()));
    let access = setup.access();
    let carol = ui_login(&access, "carol", "c").await;

    let mut hdrs = from_ui(basic("alice", "a"));
    hdrs.extend(with_cookie(&carol));
    let got = ask(&access, "/v2/", &hdrs).await;
    assert_eq!(got.who.unwrap(), user("alice", &[]));
    assert!(got.cookies.values()[1].starts_with("user=alice;"));

    // `Basic Og==` (an empty user and password) is no credential to zot.
    let mut hdrs = from_ui(headers(&[("authorization", "Basic Og==")]));
    hdrs.extend(with_cookie(&carol));
    let got = ask(&access, "/v2/", &hdrs).await;
    assert_eq!(got.who.unwrap(), user("carol", &["devs"]));
    assert_eq!(got.cookies, SetCookies::default());

    let mut hdrs = from_ui(basic("alice", "wrong"));
    hdrs.extend(with_cookie(&carol));
    let got = ask(&access, "/v2/", &hdrs).await;
    assert!(matches!(
        got.who,
        Err(NodeError::Unauthenticated {
            www_authenticate: None
        })
    ));
    assert_eq!(got.cookies, SetCookies::default());
}

#[tokio::test]
async fn a_cookie_naming_no_live_session_is_expired_and_the_caller_refused_or_anonymous() {
    let setup = Setup::new(&[("alice", "a")], None);
    let access = setup.access();
    let token = ui_login(&access, "alice", "a").await;
    let mut tampered = token.clone().into_bytes();
    tampered[10] = if tampered[10] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();

    for hdrs in [
        from_ui(HeaderMap::new()),
        from_ui(with_cookie(&tampered)),
        from_ui(with_cookie("junk")),
    ] {
        // No anonymous policy: zot's authFail, single object, no challenge for zui.
        let got = ask(&access, "/v2/_catalog", &hdrs).await;
        let err = got.who.unwrap_err();
        assert!(
            matches!(
                err,
                NodeError::Unauthenticated {
                    www_authenticate: None
                }
            ),
            "{err:?}"
        );
        assert_eq!(got.cookies.values(), [EXPIRING]);
        // The mgmt URI lets anyone in, still telling the browser to drop its cookie.
        let mgmt = ask(&access, "/v2/_zot/ext/mgmt", &hdrs).await;
        assert_eq!(mgmt.who.unwrap(), Identity::Anonymous);
        assert_eq!(mgmt.cookies.values(), [EXPIRING]);
    }
    let anonymous_allowed = Setup::new(&[("alice", "a")], Some(mixed_policies()));
    let got = ask(
        &anonymous_allowed.access(),
        "/v2/_catalog",
        &from_ui(with_cookie(&tampered)),
    )
    .await;
    assert_eq!(got.who.unwrap(), Identity::Anonymous);
    assert_eq!(got.cookies.values(), [EXPIRING]);

    // The genuine cookie still works.
    let got = ask(&access, "/v2/_catalog", &from_ui(with_cookie(&token))).await;
    assert_eq!(got.who.unwrap(), user("alice", &[]));
}

#[tokio::test]
async fn logout_ends_the_session_and_expires_both_cookies() {
    let setup = Setup::new(&[("alice", "a")], None);
    let access = setup.access();
    let token = ui_login(&access, "alice", "a").await;
    let other = ui_login(&access, "alice", "a").await;

    let cookies = access.logout(&with_cookie(&token)).await.unwrap();
    assert_eq!(
        cookies.values(),
        [
            "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
            "user=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
        ]
    );
    let got = ask(&access, "/v2/_catalog", &from_ui(with_cookie(&token))).await;
    assert!(got.who.is_err());
    assert_eq!(got.cookies.values(), [EXPIRING]);
    // Another login of the same user is another session.
    let got = ask(&access, "/v2/_catalog", &from_ui(with_cookie(&other))).await;
    assert_eq!(got.who.unwrap(), user("alice", &[]));
    // Without a cookie, or with a dead one, logout answers the same.
    assert_eq!(access.logout(&HeaderMap::new()).await.unwrap(), cookies);
    assert_eq!(access.logout(&with_cookie(&token)).await.unwrap(), cookies);
}

#[tokio::test]
async fn sessions_survive_a_restart_but_not_the_removal_of_their_user() {
    let setup = Setup::new(&[("alice", "a"), ("bob", "b")], None);
    let alice = ui_login(&setup.access(), "alice", "a").await;
    let bob = ui_login(&setup.access(), "bob", "b").await;
    let Some(htpasswd) = setup
        .config
        .http
        .auth
        .as_ref()
        .and_then(|a| a.htpasswd.as_ref())
    else {
        panic!("the setup has an htpasswd file");
    };
    let bob_only = format!("bob:{}\n", bcrypt::hash("b", 4).unwrap());
    std::fs::write(&htpasswd.path, bob_only).unwrap();

    let restarted = setup.access();
    let got = ask(&restarted, "/v2/_catalog", &from_ui(with_cookie(&bob))).await;
    assert_eq!(got.who.unwrap(), user("bob", &[]));
    let got = ask(&restarted, "/v2/_catalog", &from_ui(with_cookie(&alice))).await;
    assert!(got.who.is_err());
    assert_eq!(got.cookies.values(), [EXPIRING]);
}

#[tokio::test]
async fn cookies_are_secure_with_tls_or_secure_session() {
    let mut setup = Setup::new(&[("alice", "a")], None);
    let plain = ask(&setup.access(), "/v2/", &from_ui(basic("alice", "a"))).await;
    assert!(plain.cookies.values().iter().all(|c| !c.contains("Secure")));

    if let Some(auth) = setup.config.http.auth.as_mut() {
        auth.secure_session = Some(true);
    }
    let secure = ask(&setup.access(), "/v2/", &from_ui(basic("alice", "a"))).await;
    assert!(secure
        .cookies
        .values()
        .iter()
        .all(|c| c.ends_with("; Secure")));

    if let Some(auth) = setup.config.http.auth.as_mut() {
        auth.secure_session = None;
    }
    setup.config.http.tls = Some(crate::config::TlsConfig {
        cert: Some("cert.pem".into()),
        key: Some("key.pem".into()),
        cacert: None,
    });
    let tls = ask(&setup.access(), "/v2/", &from_ui(basic("alice", "a"))).await;
    assert!(tls.cookies.values().iter().all(|c| c.ends_with("; Secure")));
    assert!(setup.dir.path().join("data/_sessions").is_dir());
}

/// Without basic authentication there are no sessions. zui's header still
/// takes zot's session path: no session, so the cookie is expired and the
/// caller gets in only where anonymous access exists (none here: 401).
#[tokio::test]
async fn without_basic_auth_there_are_no_sessions() {
    let access = Access::from_config(&Config::default()).unwrap();
    assert!(!access.ui_sessions());
    let got = ask(&access, "/v2/_catalog", &from_ui(with_cookie("x"))).await;
    assert!(got.who.is_err());
    assert_eq!(got.cookies.values().len(), 1);
    let plain = ask(&access, "/v2/_catalog", &with_cookie("x")).await;
    assert_eq!(plain.who.unwrap(), Identity::Anonymous);
    assert_eq!(plain.cookies, SetCookies::default());
    assert_eq!(access.sweep_sessions().await.unwrap(), 0);
}
