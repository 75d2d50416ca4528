//! rustls configurations from zot's `TLSConfig` (`cert`, `key`, `cacert`): HTTPS listeners (`http.tls`) and the gateway's connections to members (`cluster.tls`).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore, ServerConfig, WantsVerifier};

use flotilla_protocol::config::TlsConfig;

/// Offered by the listener so HTTP/2 is used wherever the client speaks it.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The TLS acceptor for a listener's `http.tls`; `None` serves plain HTTP.
pub fn acceptor(tls: Option<&TlsConfig>) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    tls.map(|tls| Ok(tokio_rustls::TlsAcceptor::from(server_config(tls)?)))
        .transpose()
}

/// Server config for a listener (`http.tls`): `cert` and `key`
/// are required; when `cacert` is set, clients must present a certificate it
/// signed (mTLS), otherwise no client authentication is asked for.
pub fn server_config(tls: &TlsConfig) -> anyhow::Result<Arc<ServerConfig>> {
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
pub fn client_config(tls: &TlsConfig) -> anyhow::Result<ClientConfig> {
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
pub fn client_config_without_roots() -> anyhow::Result<ClientConfig> {
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
mod tests;
