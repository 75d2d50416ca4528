//! A throwaway PKI made by the test itself: a CA, a server certificate for 127.0.0.1, a client certificate.
//!
//! Each [`TestPki`] is a fresh CA, so two of them do not trust each other:
//! that is how a test gives a gateway "the wrong CA".

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use reqwest::blocking::Client;
use tempfile::TempDir;

/// PEM files of one test CA and the certificates it signed, in a temp dir.
#[derive(Debug)]
pub struct TestPki {
    dir: TempDir,
    /// The CA certificate: `cacert` for whoever verifies.
    pub ca: PathBuf,
    /// Valid for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate signed by the same CA, for mTLS towards members.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestPki {
    /// A fresh CA and its server and client certificates.
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("flotilla-pki-").tempdir()?;
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flotilla e2e test CA");
        let ca = ca_params.self_signed(&ca_key)?;

        let leaf = |name: &str, sans: &[&str]| -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans)?;
            params.distinguished_name.push(DnType::CommonName, name);
            Ok((
                params.signed_by(&key, &ca, &ca_key)?.pem(),
                key.serialize_pem(),
            ))
        };
        let (server_pem, server_key) = leaf("127.0.0.1", &["127.0.0.1", "localhost"])?;
        let (client_pem, client_key) = leaf("flotilla e2e client", &["client"])?;

        let write = |name: &str, pem: &str| -> Result<PathBuf> {
            let path = dir.path().join(name);
            fs::write(&path, pem)?;
            Ok(path)
        };
        // skopeo (containers/image) takes every `*.crt` in a cert dir as a CA.
        fs::create_dir(dir.path().join("certs.d"))?;
        write("certs.d/ca.crt", &ca.pem())?;
        Ok(Self {
            ca: write("ca.pem", &ca.pem())?,
            server_cert: write("server.pem", &server_pem)?,
            server_key: write("server.key", &server_key)?,
            client_cert: write("client.pem", &client_pem)?,
            client_key: write("client.key", &client_key)?,
            dir,
        })
    }

    /// A directory holding only `ca.crt`, for skopeo's `--src-cert-dir`/`--dest-cert-dir`.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// A client that trusts this CA only (no system roots), follows no redirects and gives up after 60 s.
    pub fn client(&self) -> Result<Client> {
        self.client_builder()?
            .build()
            .context("building a reqwest client")
    }

    /// A client like [`TestPki::client`] that also presents the client
    /// certificate, for members that require mTLS.
    pub fn mtls_client(&self) -> Result<Client> {
        let mut pem = fs::read(&self.client_cert)?;
        pem.extend(fs::read(&self.client_key)?);
        self.client_builder()?
            .identity(reqwest::Identity::from_pem(&pem)?)
            .build()
            .context("building a reqwest client with a client certificate")
    }

    /// [`TestPki::client`]'s builder, for callers that add to it (HTTP/2 only, say).
    pub fn client_builder(&self) -> Result<reqwest::blocking::ClientBuilder> {
        let ca = reqwest::Certificate::from_pem(&fs::read(&self.ca)?)?;
        Ok(Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60)))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
