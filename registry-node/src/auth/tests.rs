//! Tests of `Access` against zot's behaviour: real htpasswd files, real configs, header maps as clients send them.

use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use serde_json::json;

use super::request::{go_quote, UI_HEADER};
use super::*;
use crate::config::{AccessControlConfig, AuthConfig, HtpasswdConfig};

/// A node config with an htpasswd file of `users` (cost-4 bcrypt) and an optional `accessControl`.
pub(super) struct Setup {
    pub(super) config: Config,
    pub(super) dir: tempfile::TempDir,
}

impl Setup {
    pub(super) fn new(users: &[(&str, &str)], access_control: Option<serde_json::Value>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        let lines: Vec<String> = users
            .iter()
            .map(|(user, pw)| format!("{user}:{}", bcrypt::hash(pw, 4).unwrap()))
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut config = Config::default();
        config.storage.root_directory = dir.path().join("data");
        config.http.auth = Some(AuthConfig {
            htpasswd: Some(HtpasswdConfig { path }),
            ..AuthConfig::default()
        });
        config.http.access_control = access_control.map(|ac| serde_json::from_value(ac).unwrap());
        Self { config, dir }
    }

    pub(super) fn access(&self) -> Access {
        Access::from_config(&self.config).unwrap()
    }
}

pub(super) fn basic(user: &str, password: &str) -> HeaderMap {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    headers(&[("authorization", &format!("Basic {token}"))])
}

pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = header::HeaderName::from_bytes(name.as_bytes()).unwrap();
        map.append(name, HeaderValue::from_str(value).unwrap());
    }
    map
}

pub(super) fn uri(path: &str) -> Uri {
    path.parse().unwrap()
}

pub(super) fn user(name: &str, groups: &[&str]) -> Identity {
    Identity::User {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

async fn login(access: &Access, hdrs: &HeaderMap) -> Result<Identity, NodeError> {
    access
        .authenticate(&uri("/v2/repo/tags/list"), hdrs)
        .await
        .who
}

fn challenge_of(err: &NodeError) -> Option<String> {
    err.headers()
        .into_iter()
        .find(|(name, _)| name == header::WWW_AUTHENTICATE)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn good_password_authenticates_and_bad_one_is_a_single_object_401() {
    let access = Setup::new(&[("alice", "wonder")], None).access();
    assert_eq!(
        login(&access, &basic("alice", "wonder")).await.unwrap(),
        user("alice", &[])
    );
    // The cached path answers the same.
    assert_eq!(
        login(&access, &basic("alice", "wonder")).await.unwrap(),
        user("alice", &[])
    );
    for hdrs in [
        basic("alice", "wrong"),
        basic("mallory", "wonder"),
        headers(&[("authorization", "Basic !!")]),
    ] {
        let err = login(&access, &hdrs).await.unwrap_err();
        assert!(matches!(err, NodeError::Unauthenticated { .. }), "{err:?}");
        assert_eq!(
            challenge_of(&err).as_deref(),
            Some("Basic realm=\"Authorization Required\"")
        );
    }
}

#[tokio::test]
async fn scheme_is_case_insensitive_and_padding_is_required() {
    // 13 bytes, so the encoding ends in `==`.
    let access = Setup::new(&[("alice", "wonders")], None).access();
    let token = base64::engine::general_purpose::STANDARD.encode("alice:wonders");
    assert!(token.ends_with("=="));
    let lower = headers(&[("authorization", &format!("basic {token}"))]);
    assert!(login(&access, &lower).await.is_ok());
    let unpadded = headers(&[(
        "authorization",
        &format!("Basic {}", token.trim_end_matches('=')),
    )]);
    assert!(login(&access, &unpadded).await.is_err());
}

#[tokio::test]
async fn without_access_control_no_credentials_means_401_and_users_may_do_anything() {
    let access = Setup::new(&[("alice", "wonder")], None).access();
    assert!(login(&access, &HeaderMap::new()).await.is_err());
    // `Basic Og==` is ":" — zot counts it as no credentials at all.
    assert!(login(&access, &headers(&[("authorization", "Basic Og==")]))
        .await
        .is_err());
    let alice = user("alice", &[]);
    for action in [Action::Read, Action::Create, Action::Update, Action::Delete] {
        assert!(access
            .authorize(&alice, "any/repo", action, &HeaderMap::new())
            .await
            .is_ok());
    }
    assert!(access.can_read(&alice, "any/repo"));
    assert!(access.is_admin(&alice));
}

#[tokio::test]
async fn no_auth_at_all_lets_everyone_in_as_anonymous() {
    let access = Access::from_config(&Config::default()).unwrap();
    assert_eq!(
        login(&access, &HeaderMap::new()).await.unwrap(),
        Identity::Anonymous
    );
    assert_eq!(
        login(&access, &basic("x", "y")).await.unwrap(),
        Identity::Anonymous
    );
    let anon = Identity::Anonymous;
    assert!(access
        .authorize(&anon, "r", Action::Delete, &HeaderMap::new())
        .await
        .is_ok());
    assert_eq!(access.challenge(&HeaderMap::new()), None);
}

#[tokio::test]
async fn two_authorization_headers_are_refused_even_when_valid() {
    let access = Setup::new(&[("alice", "wonder")], None).access();
    let mut hdrs = basic("alice", "wonder");
    for (_, value) in basic("alice", "wonder").iter() {
        hdrs.append(header::AUTHORIZATION, value.clone());
    }
    assert!(matches!(
        login(&access, &hdrs).await,
        Err(NodeError::Unauthenticated { .. })
    ));
}

#[tokio::test]
async fn the_ui_header_suppresses_www_authenticate() {
    let access = Setup::new(&[("alice", "wonder")], None).access();
    let mut hdrs = basic("alice", "wrong");
    hdrs.insert(UI_HEADER, HeaderValue::from_static("zot-ui"));
    let err = login(&access, &hdrs).await.unwrap_err();
    assert!(matches!(
        err,
        NodeError::Unauthenticated {
            www_authenticate: None
        }
    ));
    assert_eq!(access.challenge(&hdrs), None);
    assert_eq!(
        access.challenge(&HeaderMap::new()).as_deref(),
        Some("basic realm=")
    );
}

#[tokio::test]
async fn realm_is_quoted_on_401_and_raw_on_v2() {
    let mut setup = Setup::new(&[("alice", "wonder")], None);
    setup.config.http.realm = Some("zot \"prod\"".into());
    let access = setup.access();
    let err = login(&access, &HeaderMap::new()).await.unwrap_err();
    assert_eq!(
        challenge_of(&err).as_deref(),
        Some(r#"Basic realm="zot \"prod\"""#)
    );
    assert_eq!(
        access.challenge(&HeaderMap::new()).as_deref(),
        Some("basic realm=zot \"prod\"")
    );
}

#[tokio::test]
async fn fail_delay_applies_only_to_failures_with_credentials() {
    let mut setup = Setup::new(&[("alice", "wonder")], None);
    if let Some(auth) = setup.config.http.auth.as_mut() {
        auth.fail_delay = 1;
    }
    let access = setup.access();
    let start = tokio::time::Instant::now();
    assert!(login(&access, &HeaderMap::new()).await.is_err());
    assert!(start.elapsed() < Duration::from_millis(900));
    let start = tokio::time::Instant::now();
    assert!(login(&access, &basic("alice", "wrong")).await.is_err());
    assert!(start.elapsed() >= Duration::from_secs(1));
}

pub(super) fn mixed_policies() -> serde_json::Value {
    json!({
        "repositories": {
            "**": { "anonymousPolicy": ["read"], "defaultPolicy": ["read"] },
            "team/**": {
                "policies": [
                    { "users": ["alice"], "actions": ["read", "create"] },
                    { "groups": ["devs"], "actions": ["read", "create", "update"] }
                ],
                "defaultPolicy": []
            },
            "team/secret": { "policies": [{ "users": ["bob"], "actions": ["read"] }] }
        },
        "adminPolicy": { "users": ["root"], "actions": ["read", "delete"] },
        "groups": { "devs": { "users": ["carol"] } }
    })
}

#[tokio::test]
async fn anonymous_gets_in_only_where_an_anonymous_policy_exists() {
    let users = [("alice", "a"), ("carol", "c")];
    let access = Setup::new(&users, Some(mixed_policies())).access();
    let anon = login(&access, &HeaderMap::new()).await.unwrap();
    assert_eq!(anon, Identity::Anonymous);
    let none = HeaderMap::new();
    assert!(access
        .authorize(&anon, "public/app", Action::Read, &none)
        .await
        .is_ok());
    let err = access
        .authorize(&anon, "public/app", Action::Create, &none)
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::AnonymousDenied { .. }));
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge_of(&err).as_deref(),
        Some("Basic realm=\"Authorization Required\"")
    );
    // "team/**" is longer than "**" and has no anonymous policy.
    assert!(access
        .authorize(&anon, "team/app", Action::Read, &none)
        .await
        .is_err());
    assert!(!access.can_read(&anon, "team/app"));
    assert!(access.can_read(&anon, "public/app"));
}

#[tokio::test]
async fn docker_gets_a_401_on_v2_when_policies_are_mixed() {
    let access = Setup::new(&[("alice", "a")], Some(mixed_policies())).access();
    let docker = headers(&[(
        "user-agent",
        "docker/24.0.7 go/go1.20 (linux) UpstreamClient(Docker-Client/24.0.7)",
    )]);
    assert!(access
        .authenticate(&uri("/v2/"), &docker)
        .await
        .who
        .is_err());
    assert!(access
        .authenticate(&uri("/v2/lib/app/tags/list"), &docker)
        .await
        .who
        .is_ok());
    assert!(access
        .authenticate(&uri("/v2/"), &HeaderMap::new())
        .await
        .who
        .is_ok());
}

#[tokio::test]
async fn anonymous_only_policies_need_no_docker_workaround() {
    let only_anonymous = json!({ "repositories": { "**": { "anonymousPolicy": ["read"] } } });
    let access = Setup::new(&[("alice", "a")], Some(only_anonymous)).access();
    let docker = headers(&[("user-agent", "Docker-Client/24.0.7 (linux)")]);
    assert!(access.authenticate(&uri("/v2/"), &docker).await.who.is_ok());
}

#[tokio::test]
async fn the_longest_matching_glob_decides() {
    let access = Setup::new(&[], Some(mixed_policies())).access();
    let (alice, bob, none) = (user("alice", &[]), user("bob", &[]), HeaderMap::new());
    // "**" gives every user read; "team/**" replaces it with its own list.
    assert!(access
        .authorize(&bob, "public/app", Action::Read, &none)
        .await
        .is_ok());
    let err = access
        .authorize(&bob, "team/app", Action::Read, &none)
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert!(String::from_utf8(err.body().unwrap())
        .unwrap()
        .contains("DENIED"));
    assert!(access
        .authorize(&alice, "team/app", Action::Create, &none)
        .await
        .is_ok());
    // `team/**` also covers `team` itself, so "**" no longer applies there.
    assert!(access
        .authorize(&alice, "team", Action::Create, &none)
        .await
        .is_ok());
    assert!(access
        .authorize(&bob, "team", Action::Read, &none)
        .await
        .is_err());
    // "team/secret" is longer still: alice's grant on "team/**" does not reach it.
    assert!(access
        .authorize(&alice, "team/secret", Action::Read, &none)
        .await
        .is_err());
    assert!(access
        .authorize(&bob, "team/secret", Action::Read, &none)
        .await
        .is_ok());
}

#[tokio::test]
async fn groups_come_from_access_control_and_grant_their_actions() {
    let access = Setup::new(&[("carol", "c")], Some(mixed_policies())).access();
    let carol = login(&access, &basic("carol", "c")).await.unwrap();
    assert_eq!(carol, user("carol", &["devs"]));
    let none = HeaderMap::new();
    assert!(access
        .authorize(&carol, "team/app", Action::Update, &none)
        .await
        .is_ok());
    assert!(access
        .authorize(&carol, "team/app", Action::Delete, &none)
        .await
        .is_err());
}

#[tokio::test]
async fn default_policy_is_for_any_authenticated_user() {
    let access = Setup::new(&[], Some(mixed_policies())).access();
    let (stranger, none) = (user("stranger", &[]), HeaderMap::new());
    assert!(access
        .authorize(&stranger, "lib/x", Action::Read, &none)
        .await
        .is_ok());
    assert!(access
        .authorize(&stranger, "lib/x", Action::Create, &none)
        .await
        .is_err());
}

#[tokio::test]
async fn admin_policy_applies_everywhere_with_its_own_actions() {
    let access = Setup::new(&[], Some(mixed_policies())).access();
    let (root, none) = (user("root", &[]), HeaderMap::new());
    assert!(access.is_admin(&root));
    assert!(!access.is_admin(&user("alice", &[])));
    assert!(access
        .authorize(&root, "team/secret", Action::Delete, &none)
        .await
        .is_ok());
    // Not in adminPolicy.actions and no repository grant: refused by the dist-spec check…
    assert!(access
        .authorize(&root, "team/secret", Action::Create, &none)
        .await
        .is_err());
    // …while zot's `UserAccessControl.Can` lets an admin do every method action.
    assert!(access.can(&root, Action::Create, "team/secret"));
    assert!(!access.can(&root, Action::DetectManifestCollision, "team/secret"));
}

#[tokio::test]
async fn admin_groups_count() {
    let policies = json!({
        "repositories": {},
        "adminPolicy": { "groups": ["ops"], "actions": ["read", "create", "update", "delete"] },
        "groups": { "ops": { "users": ["dave"] } }
    });
    let access = Setup::new(&[("dave", "d")], Some(policies)).access();
    let dave = login(&access, &basic("dave", "d")).await.unwrap();
    assert!(access.is_admin(&dave));
    assert!(access
        .authorize(&dave, "any", Action::Update, &HeaderMap::new())
        .await
        .is_ok());
}

#[tokio::test]
async fn create_update_and_delete_are_distinct() {
    let policies = json!({ "repositories": { "**": { "policies": [
        { "users": ["pusher"], "actions": ["create"] },
        { "users": ["mover"], "actions": ["update"] },
        { "users": ["cleaner"], "actions": ["delete"] }
    ] } } });
    let access = Setup::new(&[], Some(policies)).access();
    let none = HeaderMap::new();
    let cases = [
        ("pusher", Action::Create),
        ("mover", Action::Update),
        ("cleaner", Action::Delete),
    ];
    for (name, granted) in cases {
        for action in [Action::Read, Action::Create, Action::Update, Action::Delete] {
            let ok = access
                .authorize(&user(name, &[]), "r", action, &none)
                .await
                .is_ok();
            assert_eq!(ok, action == granted, "{name} {action:?}");
        }
    }
}

#[test]
fn manifest_put_needs_update_only_to_move_a_tag() {
    let tags = vec!["v1".to_owned()];
    let q = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        manifest_write_actions(Some("v1"), &[], &tags),
        [Action::Update]
    );
    assert_eq!(
        manifest_write_actions(Some("v2"), &[], &tags),
        [Action::Create]
    );
    assert_eq!(manifest_write_actions(None, &[], &tags), [Action::Create]);
    assert_eq!(
        manifest_write_actions(None, &q(&["v1"]), &tags),
        [Action::Update]
    );
    assert_eq!(
        manifest_write_actions(None, &q(&[" v1 ", "v2"]), &tags),
        [Action::Update, Action::Create]
    );
    assert_eq!(
        manifest_write_actions(None, &q(&["v1", "bad tag!"]), &tags),
        [Action::Update]
    );
}

fn invalid(access_control: serde_json::Value, with_htpasswd: bool) -> String {
    let setup = Setup::new(&[], Some(access_control));
    let mut config = setup.config.clone();
    if !with_htpasswd {
        config.http.auth = None;
    }
    config.storage.root_directory = "/data".into();
    let from_validate = config.clone().validate().unwrap_err().to_string();
    let from_access = Access::from_config(&config).unwrap_err().to_string();
    assert_eq!(from_validate, from_access);
    from_validate
}

#[test]
fn conditions_are_refused_not_ignored() {
    let cond = json!([{ "expression": "req.tls.enabled", "message": "TLS only" }]);
    let err = invalid(
        json!({ "repositories": { "a/*": { "policies": [{ "users": ["u"], "actions": ["read"], "conditions": cond }] } } }),
        true,
    );
    assert!(err.contains("http.accessControl.repositories"), "{err}");
    assert!(err.contains("`a/*`.policies[0].conditions"), "{err}");
    let err = invalid(
        json!({ "adminPolicy": { "users": ["u"], "actions": ["read"], "conditions": cond } }),
        true,
    );
    assert!(
        err.contains("http.accessControl.adminPolicy.conditions"),
        "{err}"
    );
}

#[test]
fn empty_conditions_restrict_nothing_and_are_accepted() {
    let ac = json!({ "repositories": { "**": { "policies": [{ "users": ["u"], "actions": ["read"], "conditions": [] }] } } });
    let mut config = Setup::new(&[], Some(ac)).config;
    config.storage.root_directory = "/data".into();
    assert!(config.validate().is_ok());
}

#[test]
fn unknown_actions_and_bad_globs_are_refused() {
    let err = invalid(
        json!({ "repositories": { "**": { "defaultPolicy": ["Read"] } } }),
        true,
    );
    assert!(
        err.contains("`**`.defaultPolicy") && err.contains("`Read`"),
        "{err}"
    );
    let err = invalid(
        json!({ "adminPolicy": { "users": ["u"], "actions": ["write"] } }),
        true,
    );
    assert!(
        err.contains("adminPolicy.actions") && err.contains("`write`"),
        "{err}"
    );
    let err = invalid(
        json!({ "repositories": { "team/[x": { "anonymousPolicy": ["read"] } } }),
        true,
    );
    assert!(err.contains("team/[x"), "{err}");
}

#[test]
fn user_grants_without_htpasswd_are_refused_as_zot_does() {
    let err = invalid(
        json!({ "repositories": { "**": { "defaultPolicy": ["read"] } } }),
        false,
    );
    assert!(
        err.contains("http.accessControl") && err.contains("htpasswd"),
        "{err}"
    );
    let mut config = Config::default();
    config.storage.root_directory = "/data".into();
    config.http.access_control = Some(
        serde_json::from_value::<AccessControlConfig>(
            json!({ "repositories": { "**": { "anonymousPolicy": ["read"] } } }),
        )
        .unwrap(),
    );
    assert!(config.clone().validate().is_ok());
    assert!(Access::from_config(&config).is_ok());
}

#[tokio::test]
async fn anonymous_only_access_control_without_auth_still_challenges_denials() {
    let mut config = Config::default();
    let ac = json!({ "repositories": { "pub/**": { "anonymousPolicy": ["read"] } } });
    config.http.access_control = Some(serde_json::from_value(ac).unwrap());
    let access = Access::from_config(&config).unwrap();
    let anon = login(&access, &HeaderMap::new()).await.unwrap();
    assert!(access
        .authorize(&anon, "pub/a", Action::Read, &HeaderMap::new())
        .await
        .is_ok());
    let err = access
        .authorize(&anon, "priv/a", Action::Read, &HeaderMap::new())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        NodeError::AnonymousDenied {
            www_authenticate: Some(_)
        }
    ));
    assert_eq!(access.challenge(&HeaderMap::new()), None);
}

#[test]
fn go_quote_escapes_like_strconv() {
    assert_eq!(go_quote("a \"b\" \\c\t"), r#""a \"b\" \\c\t""#);
    assert_eq!(go_quote("é\u{1}"), "\"é\\x01\"");
}
