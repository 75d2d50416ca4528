//! Real TLS handshakes over loopback with a throwaway PKI: both configs, mTLS, and the wrong CA.

use std::path::PathBuf;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::test_pki::{write_test_pki, TestPki};
use super::*;

fn server_tls(pki: &TestPki, mtls: bool) -> TlsConfig {
    TlsConfig {
        cert: Some(pki.server_cert.clone()),
        key: Some(pki.server_key.clone()),
        cacert: mtls.then(|| pki.ca.clone()),
    }
}

fn client_tls(ca: &Path, identity: Option<&TestPki>) -> TlsConfig {
    TlsConfig {
        cert: identity.map(|pki| pki.client_cert.clone()),
        key: identity.map(|pki| pki.client_key.clone()),
        cacert: Some(ca.to_path_buf()),
    }
}

/// One real handshake over loopback; the server answers `ok` and the
/// client must read it, because under TLS 1.3 a rejected client
/// certificate only surfaces on the client's first read. Returns the
/// server's outcome and the client's, which carries the negotiated ALPN.
async fn handshake(
    server: Arc<ServerConfig>,
    client: ClientConfig,
    name: &str,
) -> (Result<(), String>, Result<Option<Vec<u8>>, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())
    });
    let client = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        // What hyper-rustls's `enable_all_versions` does to the config.
        let mut client = client;
        client.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        let connector = TlsConnector::from(Arc::new(client));
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        tls.read_to_end(&mut body)
            .await
            .map_err(|e| e.to_string())?;
        if body != b"ok" {
            return Err(format!("server sent {body:?}"));
        }
        Ok(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
    }
    .await;
    (server.await.unwrap(), client)
}

#[tokio::test]
async fn client_verifies_server_by_name_and_ip_and_negotiates_h2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    for name in ["localhost", "127.0.0.1"] {
        let server = server_config(&server_tls(&pki, false)).unwrap();
        let client = client_config(&client_tls(&pki.ca, None)).unwrap();
        let (server, client) = handshake(server, client, name).await;
        assert_eq!(server, Ok(()), "{name}");
        assert_eq!(client, Ok(Some(b"h2".to_vec())), "{name}");
    }
}

#[tokio::test]
async fn mtls_rejects_a_client_without_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let server = server_config(&server_tls(&pki, true)).unwrap();
    let client = client_config(&client_tls(&pki.ca, None)).unwrap();
    let (server, client) = handshake(server, client, "localhost").await;
    assert!(server.is_err(), "server accepted an anonymous client");
    assert!(client.is_err(), "client read past a rejected handshake");
}

#[tokio::test]
async fn mtls_accepts_a_client_signed_by_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let server = server_config(&server_tls(&pki, true)).unwrap();
    let client = client_config(&client_tls(&pki.ca, Some(&pki))).unwrap();
    let (server, client) = handshake(server, client, "localhost").await;
    assert_eq!(server, Ok(()));
    assert_eq!(client, Ok(Some(b"h2".to_vec())));
}

#[tokio::test]
async fn a_server_signed_by_another_ca_fails_the_handshake() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pki = write_test_pki(ours.path());
    let other = write_test_pki(theirs.path());
    let server = server_config(&server_tls(&pki, false)).unwrap();
    let client = client_config(&client_tls(&other.ca, None)).unwrap();
    let (server, client) = handshake(server, client, "localhost").await;
    assert!(server.is_err());
    // Both test CAs share a name, so webpki finds the wrong issuer and
    // reports a bad signature rather than an unknown one.
    let err = client.unwrap_err();
    assert!(err.contains("invalid peer certificate"), "{err}");
}

/// Members are reached through hyper-rustls exactly as `members.rs`
/// builds it; a preset ALPN list there would panic at startup.
#[tokio::test]
async fn member_connector_from_client_config_negotiates_h2() {
    use hyper_rustls::MaybeHttpsStream;
    use hyper_util::client::legacy::connect::HttpConnector;
    use tower::Service;

    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let server = TlsAcceptor::from(server_config(&server_tls(&pki, true)).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server
            .accept(tcp)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let client = client_config(&client_tls(&pki.ca, Some(&pki))).unwrap();
    let mut connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    let uri = format!("https://localhost:{port}/v2/").parse().unwrap();
    let MaybeHttpsStream::Https(stream) = connector.call(uri).await.unwrap() else {
        panic!("connected without TLS");
    };
    assert_eq!(stream.inner().get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(accepted.await.unwrap(), Ok(()));

    // Plain-HTTP clusters still get a connector; it trusts no server.
    let untrusting = client_config_without_roots().unwrap();
    assert!(untrusting.alpn_protocols.is_empty());
}

#[test]
fn errors_name_the_config_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_test_pki(dir.path());
    let err = |r: anyhow::Result<ClientConfig>| format!("{:#}", r.unwrap_err());

    let no_ca = err(client_config(&TlsConfig::default()));
    assert!(no_ca.starts_with("cluster.tls.cacert: required"), "{no_ca}");

    let missing = dir.path().join("missing.pem");
    let unreadable = client_config(&client_tls(&missing, None)).unwrap_err();
    // Plain `{}`, as a caller might log it, still says why.
    let expected = format!("cluster.tls.cacert {}: No such file", missing.display());
    assert!(
        unreadable.to_string().starts_with(&expected),
        "{unreadable}"
    );

    // A key file holds no certificate.
    let mut tls = server_tls(&pki, false);
    tls.cert = Some(pki.server_key.clone());
    let no_cert = format!("{:#}", server_config(&tls).unwrap_err());
    let expected = format!(
        "http.tls.cert {}: no certificate found",
        pki.server_key.display()
    );
    assert_eq!(no_cert, expected);

    let mut tls = server_tls(&pki, false);
    tls.key = Some(pki.server_cert.clone());
    let no_key = format!("{:#}", server_config(&tls).unwrap_err());
    let expected = format!(
        "http.tls.key {}: no private key found",
        pki.server_cert.display()
    );
    assert_eq!(no_key, expected);

    let half = client_tls(&pki.ca, None);
    let half = TlsConfig {
        cert: Some(PathBuf::from(&pki.client_cert)),
        ..half
    };
    assert_eq!(
        err(client_config(&half)),
        "cluster.tls.key: required when cluster.tls.cert is set"
    );

    let mismatched = TlsConfig {
        key: Some(pki.client_key.clone()),
        ..server_tls(&pki, false)
    };
    let mismatched = format!("{:#}", server_config(&mismatched).unwrap_err());
    assert!(
        mismatched.starts_with("http.tls.cert/http.tls.key:"),
        "{mismatched}"
    );
}
