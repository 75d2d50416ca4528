//! A fleet on loopback: N registry members (flotilla-nodes, TLS flotilla-nodes or docker-registries) behind one gateway.
//!
//! The cluster knows the placement the gateway uses (the same config, read
//! by the gateway's own library), so a test can say where a repository must
//! land and then ask every member directly where it did.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::gateway::{Gateway, GatewayBuilder};
use crate::layout::{seeded_bytes, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use crate::{Descriptor, Distribution, Node, Registry, TestPki, TlsNode};

/// Which registry the members run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FlotillaNode,
    Distribution,
}

/// Options for a cluster that is not started yet; see [`Cluster::builder`].
#[derive(Debug)]
pub struct ClusterBuilder<'a> {
    size: usize,
    kind: Kind,
    search: bool,
    gateway: GatewayBuilder,
    tls: Option<&'a TestPki>,
}

impl<'a> ClusterBuilder<'a> {
    /// `size` `flotilla-node`s (the default: 3).
    pub fn nodes(mut self, size: usize) -> Self {
        self.size = size;
        self.kind = Kind::FlotillaNode;
        self
    }

    /// Members with zot's search and UI extensions switched on.
    pub fn search(mut self) -> Self {
        self.search = true;
        self
    }

    /// `fanOut` timeout of the gateway.
    pub fn fan_out(mut self, fan_out: std::time::Duration) -> Self {
        self.gateway = self.gateway.fan_out(fan_out);
        self
    }

    /// Other gateway options (timeouts), applied to the builder.
    pub fn gateway(mut self, options: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        self.gateway = options(self.gateway);
        self
    }

    /// `size` unmodified `docker-registry` (distribution 2.8) members.
    pub fn distribution(mut self, size: usize) -> Self {
        self.size = size;
        self.kind = Kind::Distribution;
        self
    }

    /// `placement` of the gateway: `rendezvous` (default) or `zot`.
    pub fn placement(mut self, placement: &'static str) -> Self {
        self.gateway = self.gateway.placement(placement);
        self
    }

    /// `onMemberFailure: partial`.
    pub fn partial(mut self) -> Self {
        self.gateway = self.gateway.partial();
        self
    }

    /// TLS everywhere with `pki`'s certificates: members serve HTTPS and
    /// require a client certificate (mTLS); the gateway verifies them with
    /// `pki.ca`, presents `pki`'s client certificate, and serves HTTPS itself.
    /// `pki` must outlive the cluster.
    pub fn tls(mut self, pki: &'a TestPki) -> Self {
        self.tls = Some(pki);
        self.gateway = self
            .gateway
            .listener_tls(&pki.server_cert, &pki.server_key)
            .members_tls(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
        self
    }

    pub fn start(self) -> Result<Cluster> {
        let members = (0..self.size)
            .map(|_| match (self.kind, self.tls) {
                (Kind::FlotillaNode, None) if self.search => {
                    Node::builder().search().start().map(Member::Node)
                }
                (Kind::FlotillaNode, None) => Node::start().map(Member::Node),
                (Kind::FlotillaNode, Some(pki)) => TlsNode::start(pki).map(Member::TlsNode),
                (Kind::Distribution, None) => Distribution::start().map(Member::Distribution),
                (Kind::Distribution, Some(_)) => {
                    bail!("TLS docker-registry members are not supported by the harness")
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = members.iter().map(Member::host_port).collect();
        let gateway_builder = self.gateway.members(&names);
        let gateway = gateway_builder.clone().start()?;
        Ok(Cluster {
            members,
            gateway,
            gateway_builder,
        })
    }
}

/// N members and the gateway in front of them; dropping it stops them all.
#[derive(Debug)]
pub struct Cluster {
    // Dropped first: the gateway goes before its members.
    gateway: Gateway,
    members: Vec<Member>,
    gateway_builder: GatewayBuilder,
}

impl Cluster {
    /// `size` plain `flotilla-node`s behind a rendezvous gateway.
    pub fn start(size: usize) -> Result<Self> {
        Self::builder().nodes(size).start()
    }

    pub fn builder<'a>() -> ClusterBuilder<'a> {
        ClusterBuilder {
            size: 3,
            kind: Kind::FlotillaNode,
            search: false,
            gateway: Gateway::builder(),
            tls: None,
        }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn gateway_mut(&mut self) -> &mut Gateway {
        &mut self.gateway
    }

    /// The builder this cluster's gateway was started from, for another
    /// gateway in front of the same members (with other options).
    pub fn another_gateway(&self) -> GatewayBuilder {
        self.gateway_builder.clone()
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Member `index`, in `cluster.members` order.
    pub fn member(&self, index: usize) -> &Member {
        &self.members[index]
    }

    pub fn member_mut(&mut self, index: usize) -> &mut Member {
        &mut self.members[index]
    }

    /// Index of the member that owns `repo`.
    pub fn owner(&self, repo: &str) -> usize {
        self.gateway.owner(repo)
    }

    /// Names made by `make(0)`, `make(1)`, … until every member owns
    /// `per_member` of them; the names a member owns beyond that are skipped.
    /// Placement depends on the members' ports, so tests that need names on
    /// particular members choose them this way rather than hard-coding them.
    pub fn names_on_every_member(
        &self,
        per_member: usize,
        make: impl Fn(usize) -> String,
    ) -> Result<Vec<String>> {
        let mut counts = vec![0; self.members.len()];
        let mut names = Vec::new();
        for i in 0..10_000 {
            if counts.iter().all(|&c| c >= per_member) {
                return Ok(names);
            }
            let name = make(i);
            let owner = self.owner(&name);
            if counts[owner] < per_member {
                counts[owner] += 1;
                names.push(name);
            }
        }
        bail!("10000 candidate names did not give {per_member} to every member: {counts:?}")
    }

    /// The members that have `repo` (answer 200 to its `tags/list`), asked directly.
    pub fn holders(&self, repo: &str) -> Result<Vec<usize>> {
        let mut holders = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            match member.status(&format!("/v2/{repo}/tags/list"))? {
                200 => holders.push(i),
                404 => {}
                other => bail!(
                    "member {i} ({}) answered {other} to tags/list of {repo}",
                    member.host_port()
                ),
            }
        }
        Ok(holders)
    }

    /// Fails unless `repo` is on its owner and on no other member.
    pub fn ensure_only_on_owner(&self, repo: &str) -> Result<()> {
        let owner = self.owner(repo);
        let holders = self.holders(repo)?;
        ensure!(
            holders == [owner],
            "{repo} is owned by member {owner} ({}) but held by members {holders:?}",
            self.members[owner].host_port()
        );
        Ok(())
    }

    /// Pushes an image (named `label`) to `src:v1` through the gateway with
    /// skopeo, copies it to `dst:dst_tag` the same way (which mounts across
    /// members), and checks that `dst` is on its owner only and that the
    /// owner holds every blob of the image, byte for byte. Returns the pushed
    /// layout and the image's descriptor for further checks.
    pub fn copy_across_members(
        &self,
        skopeo: &crate::Skopeo,
        work: &std::path::Path,
        (src, dst, dst_tag): (&str, &str, &str),
        label: &str,
    ) -> Result<(crate::Layout, Descriptor)> {
        let gateway = self.gateway();
        let (pushed, image) = crate::Layout::with_image(&work.join("pushed"), "v1", label)?;
        skopeo.copy(
            &pushed.reference("v1"),
            &gateway.image(&format!("{src}:v1")),
        )?;
        skopeo.copy(
            &gateway.image(&format!("{src}:v1")),
            &gateway.image(&format!("{dst}:{dst_tag}")),
        )?;
        self.ensure_only_on_owner(dst)?;
        let owner = self.member(self.owner(dst)).http();
        for (digest, bytes) in pushed.closure(&image)? {
            if digest != image.digest {
                ensure!(
                    owner.blob(dst, &digest)? == bytes,
                    "{digest} differs on the owner of {dst}"
                );
            }
        }
        Ok((pushed, image))
    }
}

/// One registry behind the gateway.
#[derive(Debug)]
pub enum Member {
    Node(Node),
    TlsNode(TlsNode),
    Distribution(Distribution),
}

impl Member {
    /// `127.0.0.1:<port>`, as the gateway's `cluster.members` names it.
    pub fn host_port(&self) -> String {
        match self {
            Self::Node(node) => node.host_port(),
            Self::TlsNode(node) => node.host_port(),
            Self::Distribution(registry) => registry.host_port(),
        }
    }

    /// Raw plain-HTTP access to this member. A TLS member has none: use
    /// [`Member::status`], or [`TestPki::client`] with [`TlsNode::url`].
    pub fn http(&self) -> Registry {
        match self {
            Self::Node(node) => node.http(),
            Self::Distribution(registry) => registry.http(),
            Self::TlsNode(node) => panic!(
                "member {} serves HTTPS with a test CA: use TestPki::client",
                node.host_port()
            ),
        }
    }

    /// The status of `GET path` on this member, asked directly.
    pub fn status(&self, path: &str) -> Result<u16> {
        let status = match self {
            Self::TlsNode(node) => node.client().get(format!("{}{path}", node.url())).send(),
            _ => self.http().get(path).send(),
        }
        .with_context(|| format!("GET {path} on member {}", self.host_port()))?
        .status();
        Ok(status.as_u16())
    }

    /// Kills the member with SIGKILL, as a crash would.
    pub fn kill(&mut self) -> Result<()> {
        match self {
            Self::Node(node) => node.kill(),
            Self::TlsNode(node) => node.kill(),
            Self::Distribution(registry) => registry.kill(),
        }
    }

    /// Freezes the member with SIGSTOP, as a hung VM would (nodes only).
    pub fn pause(&self) -> Result<()> {
        match self {
            Self::Node(node) => node.pause(),
            _ => bail!("pausing this kind of member is not supported by the harness"),
        }
    }

    /// Thaws a paused member with SIGCONT.
    pub fn resume(&self) -> Result<()> {
        match self {
            Self::Node(node) => node.resume(),
            _ => bail!("pausing this kind of member is not supported by the harness"),
        }
    }

    /// Starts the member again on the same data and port (the gateway's member list is fixed).
    pub fn restart(&mut self) -> Result<()> {
        let before = self.host_port();
        match self {
            Self::Node(node) => node.restart()?,
            Self::TlsNode(_) => bail!("restarting a TLS member is not supported by the harness"),
            Self::Distribution(registry) => registry.restart()?,
        }
        let after = self.host_port();
        ensure!(
            before == after,
            "the member came back on {after}, not {before}"
        );
        Ok(())
    }
}

/// A one-layer image pushed with raw HTTP (no client process): quick to seed many repositories.
#[derive(Debug, Clone)]
pub struct SmallImage {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
}

/// Pushes a small image unique to `repo` as `repo:tag`: each blob by POST then
/// PUT (every registry supports that), then the manifest.
pub fn push_small_image(http: &Registry, repo: &str, tag: &str) -> Result<SmallImage> {
    let layer_bytes = seeded_bytes(&format!("small image layer {repo}"), 2048);
    let layer = Descriptor::of(OCI_LAYER_GZIP, &layer_bytes);
    let config_bytes = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "org.flotilla.e2e.repo": repo } },
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
    }))?;
    let config = Descriptor::of(OCI_CONFIG, &config_bytes);
    upload_blob(http, repo, &config_bytes)?;
    upload_blob(http, repo, &layer_bytes)?;
    let manifest_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json()],
    }))?;
    let manifest = Descriptor::of(OCI_MANIFEST, &manifest_bytes);
    let response = http
        .put(&format!("/v2/{repo}/manifests/{tag}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest_bytes)
        .send()?;
    expect_status(response, 201, &format!("PUT manifest {repo}:{tag}"))?;
    Ok(SmallImage {
        manifest,
        config,
        layer,
    })
}

/// Uploads `bytes` to `repo` in one session: POST, then PUT with the digest.
pub fn upload_blob(http: &Registry, repo: &str, bytes: &[u8]) -> Result<String> {
    let digest = crate::layout::sha256_digest(bytes);
    let response = http.post(&format!("/v2/{repo}/blobs/uploads/")).send()?;
    let response = expect_status(response, 202, &format!("POST upload to {repo}"))?;
    let location = response
        .headers()
        .get("location")
        .context("upload session without Location")?
        .to_str()?
        .to_owned();
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = http
        .put(&format!("{location}{separator}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()?;
    expect_status(response, 201, &format!("PUT blob {digest} to {repo}"))?;
    Ok(digest)
}

/// `response` if it has `status`, else an error with what came instead.
pub fn expect_status(
    response: reqwest::blocking::Response,
    status: u16,
    what: &str,
) -> Result<reqwest::blocking::Response> {
    if response.status() == status {
        return Ok(response);
    }
    let got = response.status();
    let headers = format!("{:?}", response.headers());
    let body = response.text().unwrap_or_default();
    bail!("{what}: expected {status}, got {got}\nheaders: {headers}\nbody: {body}")
}

/// The JSON body of an OCI error, or the text if it is not JSON.
pub fn error_body(response: reqwest::blocking::Response) -> Value {
    let text = response.text().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Asserts the gateway's answer for a member it could not reach: 503 and
/// an OCI `UNAVAILABLE` error naming `member`. Returns the body.
pub fn assert_member_unavailable(response: reqwest::blocking::Response, member: &str) -> Value {
    let status = response.status();
    let body = error_body(response);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
    assert_eq!(body["errors"][0]["detail"]["member"], member, "{body}");
    body
}
