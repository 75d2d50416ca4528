//! rustls configurations: the gateway's HTTPS listener (`http.tls`) and its connections to members (`cluster.tls`).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, ServerConfig, WantsVerifier};

use crate::config::TlsConfig;

/// Offered by the listener so HTTP/2 is used wherever the client speaks it.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Server config for the gateway's listener (`http.tls`): `cert` and `key`
/// are required; when `cacert` is set, clients must present a certificate it
/// signed (mTLS), otherwise no client authentication is asked for.
pub(crate) fn server_config(tls: &TlsConfig) -> anyhow::Result<Arc<ServerConfig>> {
    let (certs, key) = cert_and_key("http.tls", tls)?.ok_or_else(|| {
        anyhow!("http.tls.cert and http.tls.key: both are required to serve HTTPS")
    })?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("http.tls: no usable TLS protocol version")?;
    let builder = match &tls.cacert {
        Some(path) => {
            let roots = Arc::new(roots("http.tls.cacert", path)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .with_context(|| format!("http.tls.cacert {}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).context(
        "http.tls.cert/http.tls.key: the key does not fit the certificate or is unsupported",
    )?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Client config for connections to members (`cluster.tls`): trusts exactly
/// the CA(s) in `cacert`, never the system roots, because members are
/// usually signed by a private CA; `cert` + `key` add a client certificate
/// for members that require mTLS.
///
/// ALPN is left empty on purpose: hyper-rustls's
/// `HttpsConnectorBuilder::with_tls_config` panics on a preset list, and its
/// `enable_all_versions` then offers `h2, http/1.1` itself. Anyone driving
/// tokio-rustls directly must set `alpn_protocols` to get HTTP/2.
pub(crate) fn client_config(tls: &TlsConfig) -> anyhow::Result<ClientConfig> {
    let path = tls.cacert.as_deref().ok_or_else(|| {
        anyhow!("cluster.tls.cacert: required to verify members reached over HTTPS")
    })?;
    let roots = roots("cluster.tls.cacert", path)?;
    let builder = client_builder()?.with_root_certificates(roots);
    match cert_and_key("cluster.tls", tls)? {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).context(
            "cluster.tls.cert/cluster.tls.key: the key does not fit the certificate or is unsupported",
        ),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Client config for clusters reached over plain HTTP, where hyper-rustls
/// still wants one: it trusts nothing, so a stray `https://` member fails
/// verification instead of being trusted by default. ALPN as in [`client_config`].
pub(crate) fn client_config_without_roots() -> anyhow::Result<ClientConfig> {
    Ok(client_builder()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

fn client_builder() -> anyhow::Result<ConfigBuilder<ClientConfig, WantsVerifier>> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("cluster.tls: no usable TLS protocol version")
}

/// Named explicitly so the process-wide default provider (or its absence,
/// when more than one crypto backend is linked) never matters.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `cert` + `key` under `prefix`: both or neither, never one alone.
fn cert_and_key(
    prefix: &str,
    tls: &TlsConfig,
) -> anyhow::Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Ok(Some((
            certs(&format!("{prefix}.cert"), cert)?,
            private_key(&format!("{prefix}.key"), key)?,
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(anyhow!("{prefix}.key: required when {prefix}.cert is set")),
        (None, Some(_)) => Err(anyhow!("{prefix}.cert: required when {prefix}.key is set")),
    }
}

/// Every certificate in a PEM file, in file order (leaf first for a chain).
fn certs(key: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut open(key, path)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{key} {}: unreadable PEM", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{key} {}: no certificate found", path.display()));
    }
    Ok(certs)
}

/// The first private key in a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn private_key(key: &str, path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut open(key, path)?)
        .with_context(|| format!("{key} {}: unreadable PEM", path.display()))?
        .ok_or_else(|| anyhow!("{key} {}: no private key found", path.display()))
}

fn roots(key: &str, path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(key, path)? {
        roots
            .add(cert)
            .with_context(|| format!("{key} {}: not a usable CA certificate", path.display()))?;
    }
    Ok(roots)
}

fn open(key: &str, path: &Path) -> anyhow::Result<BufReader<File>> {
    // The reason goes in the message itself so it survives a plain `{}`.
    let file = File::open(path).map_err(|err| anyhow!("{key} {}: {err}", path.display()))?;
    Ok(BufReader::new(file))
}

/// A throwaway PKI for tests that need real TLS: other modules' tests use it too.
#[cfg(test)]
pub(crate) mod test_pki {
    use std::path::{Path, PathBuf};

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    /// PEM files written by [`write_test_pki`].
    #[derive(Debug, Clone)]
    pub(crate) struct TestPki {
        /// The CA certificate: `cacert` on either side.
        pub(crate) ca: PathBuf,
        /// Valid for `localhost` and `127.0.0.1`.
        pub(crate) server_cert: PathBuf,
        pub(crate) server_key: PathBuf,
        /// Signed by the same CA, for mTLS.
        pub(crate) client_cert: PathBuf,
        pub(crate) client_key: PathBuf,
    }

    /// Writes `ca.pem`, `server.pem`, `server.key`, `client.pem` and
    /// `client.key` into `dir`, each pair signed by a fresh CA.
    pub(crate) fn write_test_pki(dir: &Path) -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flotilla test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");

        let leaf = |name: &str, sans: Vec<String>| {
            let key = KeyPair::generate().expect("leaf key");
            let mut params = CertificateParams::new(sans).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &ca, &ca_key).expect("leaf cert");
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key) =
            leaf("localhost", vec!["localhost".into(), "127.0.0.1".into()]);
        let (client_pem, client_key) = leaf("flotilla test client", vec!["client".into()]);

        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        TestPki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client.key", &client_key),
        }
    }
}

#[cfg(test)]
mod tests {
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
}
