//! Users log in to a node with htpasswd (bcrypt) basic auth, and zot's `accessControl` decides what each may do.
//!
//! alice may read, create, update and delete every repository; bob may only
//! read; anonymous callers may do nothing.

use anyhow::Result;
use flotilla_e2e::{oci_ref, Layout, Node, Skopeo, Users};
use serde_json::{json, Value};
use tempfile::TempDir;

const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");

fn node_with_users() -> Result<Node> {
    let users = Users::new().with(ALICE.0, ALICE.1).with(BOB.0, BOB.1);
    Node::builder()
        .htpasswd(&users)
        .access_control(json!({
            "repositories": {
                "**": {
                    "policies": [
                        { "users": [ALICE.0], "actions": ["read", "create", "update", "delete"] },
                        { "users": [BOB.0], "actions": ["read"] }
                    ],
                    "defaultPolicy": []
                }
            },
            "adminPolicy": { "users": [], "actions": [] }
        }))
        .start()
}

#[test]
fn a_user_with_create_rights_pushes_and_pulls_with_skopeo_creds() -> Result<()> {
    let node = node_with_users()?;
    let alice = Skopeo::as_user(ALICE.0, ALICE.1)?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "alice")?;

    alice.copy(&pushed.reference("v1"), &node.image("team/app:v1"))?;
    let pulled_dir = work.path().join("pulled");
    alice.copy(&node.image("team/app:v1"), &oci_ref(&pulled_dir, "v1"))?;

    Layout::open(&pulled_dir)?.ensure_same_image("v1", &pushed, "v1")
}

#[test]
fn skopeo_without_credentials_is_refused_with_401() -> Result<()> {
    let node = node_with_users()?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "anonymous")?;

    let push = Skopeo::new()?.try_copy(&[], &pushed.reference("v1"), &node.image("team/app:v1"))?;

    assert!(!push.success(), "an anonymous push succeeded:\n{push}");
    let said = push.stderr_text().to_lowercase();
    assert!(
        ["401", "unauthorized", "authentication required"]
            .iter()
            .any(|s| said.contains(s)),
        "skopeo did not report an authentication failure:\n{push}"
    );
    // What skopeo met, at the HTTP level.
    let http = node.http();
    let ping = http.get("/v2/").send()?;
    assert_eq!(ping.status(), 401);
    let challenge = ping.headers()["www-authenticate"].to_str()?.to_owned();
    assert!(
        challenge.to_lowercase().starts_with("basic realm="),
        "WWW-Authenticate: {challenge}"
    );
    let upload = http.post("/v2/team/app/blobs/uploads/").send()?;
    assert_eq!(upload.status(), 401);
    Ok(())
}

#[test]
fn a_wrong_password_is_refused_with_401() -> Result<()> {
    let node = node_with_users()?;

    let response = node
        .http()
        .as_user(ALICE.0, "not-her-password")
        .get("/v2/")
        .send()?;

    assert_eq!(response.status(), 401);
    let body: Value = response.json()?;
    let code = body.get("code").or_else(|| body["errors"][0].get("code"));
    assert_eq!(code, Some(&json!("UNAUTHORIZED")), "body: {body}");
    Ok(())
}

#[test]
fn a_read_only_user_pulls_but_cannot_push() -> Result<()> {
    let node = node_with_users()?;
    let alice = Skopeo::as_user(ALICE.0, ALICE.1)?;
    let bob = Skopeo::as_user(BOB.0, BOB.1)?;
    let work = TempDir::new()?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "read-only")?;
    alice.copy(&pushed.reference("v1"), &node.image("team/app:v1"))?;

    let pulled_dir = work.path().join("pulled");
    bob.copy(&node.image("team/app:v1"), &oci_ref(&pulled_dir, "v1"))?;
    Layout::open(&pulled_dir)?.ensure_same_image("v1", &pushed, "v1")?;
    assert_eq!(bob.list_tags(&node.image("team/app"))?, ["v1"]);

    let push = bob.try_copy(&[], &pushed.reference("v1"), &node.image("team/app:v2"))?;
    assert!(!push.success(), "a read-only user pushed:\n{push}");
    let said = push.stderr_text().to_lowercase();
    assert!(
        ["403", "denied"].iter().any(|s| said.contains(s)),
        "skopeo did not report a denial:\n{push}"
    );
    // What skopeo met, at the HTTP level.
    let upload = node
        .http()
        .as_user(BOB.0, BOB.1)
        .post("/v2/team/app/blobs/uploads/")
        .send()?;
    assert_eq!(upload.status(), 403);
    let body: Value = upload.json()?;
    assert_eq!(body["errors"][0]["code"], "DENIED", "body: {body}");
    Ok(())
}
