//! TLS on both sides of the gateway, with a CA the test makes itself: clients verify the gateway, the gateway verifies its members.
//!
//! The members are flotilla-nodes serving HTTPS and requiring a client
//! certificate; the gateway reaches them with `cluster.tls.cacert` and its
//! client certificate, and serves HTTPS itself, HTTP/2 by ALPN where the client offers it. skopeo runs with
//! verification on, trusting only the test CA through its cert dir.

use anyhow::Result;
use flotilla_e2e::cluster::{assert_member_unavailable, error_body};
use flotilla_e2e::{oci_ref, Cluster, Layout, Skopeo, TestPki};
use reqwest::Version;
use tempfile::TempDir;

fn tls_cluster(pki: &TestPki) -> Result<Cluster> {
    Cluster::builder().nodes(3).tls(pki).start()
}

#[test]
fn the_gateway_serves_https_verified_by_the_test_ca_with_http2_by_alpn() -> Result<()> {
    let pki = TestPki::generate()?;
    let cluster = tls_cluster(&pki)?;
    let url = format!("{}/v2/", cluster.gateway().url());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let h2 = pki.client()?.get(&url).send()?;
    let h1 = pki
        .client_builder()?
        .http1_only()
        .build()?
        .get(&url)
        .send()?;

    assert_eq!((h2.status().as_u16(), h2.version()), (200, Version::HTTP_2));
    assert_eq!(
        (h1.status().as_u16(), h1.version()),
        (200, Version::HTTP_11)
    );
    let stranger = TestPki::generate()?;
    let refused = stranger.client()?.get(&url).send();
    assert!(
        refused.is_err(),
        "a client trusting another CA connected: {refused:?}"
    );
    Ok(())
}

#[test]
fn skopeo_pushes_and_pulls_through_an_https_gateway_to_https_members_with_verification_on(
) -> Result<()> {
    let pki = TestPki::generate()?;
    let cluster = tls_cluster(&pki)?;
    let gateway = cluster.gateway();
    let skopeo = Skopeo::new()?;
    let work = TempDir::new()?;
    let cert_dir = pki.cert_dir();
    let cert_dir = cert_dir.to_string_lossy();
    let names = cluster.names_on_every_member(1, |i| format!("secure/app-{i}"))?;
    let (pushed, _) = Layout::with_image(&work.path().join("pushed"), "v1", "tls")?;

    for repo in &names {
        let dest = gateway.image(&format!("{repo}:v1"));
        skopeo
            .try_copy(
                &["--dest-tls-verify=true", "--dest-cert-dir", &cert_dir],
                &pushed.reference("v1"),
                &dest,
            )?
            .check()?;
    }

    for (i, repo) in names.iter().enumerate() {
        cluster.ensure_only_on_owner(repo)?;
        let pulled = work.path().join(format!("pulled-{i}"));
        skopeo
            .try_copy(
                &["--src-tls-verify=true", "--src-cert-dir", &cert_dir],
                &gateway.image(&format!("{repo}:v1")),
                &oci_ref(&pulled, "v1"),
            )?
            .check()?;
        Layout::open(&pulled)?.ensure_same_image("v1", &pushed, "v1")?;
    }
    // Verification really was on: without the CA, skopeo refuses the gateway.
    let unverified = skopeo.try_copy(
        &["--dest-tls-verify=true"],
        &pushed.reference("v1"),
        &gateway.image(&format!("{}:v2", names[0])),
    )?;
    assert!(
        !unverified.success() && unverified.stderr_text().contains("certificate"),
        "skopeo did not refuse a gateway signed by an unknown CA:\n{unverified}"
    );
    Ok(())
}

#[test]
fn a_gateway_with_the_wrong_ca_for_its_members_answers_503_naming_the_member() -> Result<()> {
    let pki = TestPki::generate()?;
    let cluster = tls_cluster(&pki)?;
    let wrong = TestPki::generate()?;
    let misconfigured = cluster
        .another_gateway()
        .members_tls(&wrong.ca, None)
        .start()?;
    let repo = "secure/unreachable";
    let owner = cluster.member(cluster.owner(repo)).host_port();

    let response = pki
        .client()?
        .get(format!("{}/v2/{repo}/tags/list", misconfigured.url()))
        .send()?;
    assert_member_unavailable(response, &owner);
    Ok(())
}

#[test]
fn members_requiring_a_client_certificate_refuse_a_gateway_without_one() -> Result<()> {
    let pki = TestPki::generate()?;
    let cluster = tls_cluster(&pki)?;
    let anonymous = cluster
        .another_gateway()
        .members_tls(&pki.ca, None)
        .start()?;
    let repo = "secure/mtls-only";
    let owner = cluster.member(cluster.owner(repo)).host_port();

    let response = pki
        .client()?
        .get(format!("{}/v2/{repo}/tags/list", anonymous.url()))
        .send()?;

    let status = response.status();
    let body = error_body(response);
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["errors"][0]["detail"]["member"],
        owner.as_str(),
        "{body}"
    );
    Ok(())
}
