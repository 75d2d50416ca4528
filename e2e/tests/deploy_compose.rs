//! An operator runs `deploy/compose/compose.yaml`: three nodes, two gateways that agree on the cluster, and HAProxy in front of both.
//!
//! CI machines have no Docker, so the file is checked statically: parsed as
//! YAML (merge keys applied, as compose does), then held to what a working
//! cluster needs. The configs it mounts pass the binaries' own checks.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::balancer::gateway_placeholders;
use flotilla_e2e::{env, process};
use flotilla_gateway::config::Config;
use serde_json::Value;

/// How long `flotilla-node` drains after SIGTERM (`DRAIN_DEADLINE` in registry-node/src/server.rs).
const NODE_DRAIN: Duration = Duration::from_secs(30);

#[test]
fn every_gateway_lists_exactly_the_node_services_as_members() -> Result<()> {
    let compose = Compose::load()?;
    let nodes = compose.services_running("flotilla-node");
    let gateways = compose.services_running("flotilla-gateway");
    ensure!(nodes.len() == 3, "expected 3 nodes, found {nodes:?}");
    ensure!(
        gateways.len() >= 2,
        "expected 2 gateways, found {gateways:?}"
    );
    let node_port = port_of(&compose.node_config()?)?;
    let want: BTreeSet<String> = nodes.iter().map(|n| format!("{n}:{node_port}")).collect();

    let first = compose.gateway_config(&gateways[0])?;
    for gateway in &gateways {
        let config = compose.gateway_config(gateway)?;
        let members: BTreeSet<String> = config.cluster.members.iter().cloned().collect();
        assert_eq!(members, want, "{gateway}'s cluster.members");
        assert_eq!(
            config.cluster.members, first.cluster.members,
            "{gateway}: member order"
        );
        assert_eq!(
            config.cluster.hash_key, first.cluster.hash_key,
            "{gateway}: hashKey"
        );
        assert_eq!(
            config.cluster.hash_key.chars().count(),
            16,
            "{gateway}: hashKey length"
        );
    }
    Ok(())
}

#[test]
fn haproxy_runs_the_shipped_config_in_front_of_every_gateway() -> Result<()> {
    let compose = Compose::load()?;
    let haproxy = &compose.services["haproxy"];
    let mounted = compose.host_file(haproxy, "/usr/local/etc/haproxy/haproxy.cfg")?;
    let shipped = env::repo_root().join("deploy/haproxy/haproxy.cfg");
    assert_eq!(fs::canonicalize(&mounted)?, fs::canonicalize(&shipped)?);
    let placeholders = gateway_placeholders(&fs::read_to_string(&shipped)?);

    let gateways = compose.services_running("flotilla-gateway");
    ensure!(
        placeholders.len() == gateways.len(),
        "haproxy.cfg has {placeholders:?}, compose runs {gateways:?}"
    );
    let mut addresses = BTreeSet::new();
    for name in &placeholders {
        let address = haproxy["environment"][name.as_str()]
            .as_str()
            .with_context(|| format!("haproxy's environment does not set {name}"))?;
        addresses.insert(address.to_owned());
    }
    let want: BTreeSet<String> = gateways
        .iter()
        .map(|g| Ok(format!("{g}:{}", compose.gateway_config(g)?.http.port)))
        .collect::<Result<_>>()?;
    assert_eq!(addresses, want, "haproxy's gateway addresses");
    ensure!(
        haproxy["environment"]["HAPROXY_STATS_SOCKET"].is_string(),
        "the image's user cannot write /run/haproxy: set HAPROXY_STATS_SOCKET"
    );
    ensure!(
        haproxy["ports"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == "5000:5000")),
        "haproxy must publish the registry port 5000 (haproxy.cfg binds *:5000)"
    );
    Ok(())
}

#[test]
fn every_service_outlasts_its_drain_before_sigkill() -> Result<()> {
    let compose = Compose::load()?;
    for name in compose.services_running("flotilla-gateway") {
        let drain = compose.gateway_config(&name)?.timeouts.drain;
        compose.ensure_grace_above(&name, drain)?;
    }
    for name in compose.services_running("flotilla-node") {
        compose.ensure_grace_above(&name, NODE_DRAIN)?;
    }
    Ok(())
}

#[test]
fn each_node_keeps_its_data_on_its_own_volume() -> Result<()> {
    let compose = Compose::load()?;
    let root = compose.node_config()?["storage"]["rootDirectory"].clone();
    let root = root
        .as_str()
        .context("node.json without storage.rootDirectory")?;
    let mut volumes = BTreeSet::new();
    for name in compose.services_running("flotilla-node") {
        let volume = compose
            .mounts(&compose.services[&name])
            .into_iter()
            .find(|(_, target)| target == root)
            .map(|(source, _)| source)
            .with_context(|| format!("{name} mounts nothing on {root}"))?;
        ensure!(
            compose.doc["volumes"].get(&volume).is_some(),
            "{name}'s data `{volume}` is not a named volume"
        );
        ensure!(
            volumes.insert(volume.clone()),
            "{volume} is shared by two nodes"
        );
    }
    Ok(())
}

#[test]
fn the_image_holds_what_every_service_runs() -> Result<()> {
    let compose = Compose::load()?;
    for name in compose
        .services_running("flotilla-node")
        .into_iter()
        .chain(compose.services_running("flotilla-gateway"))
    {
        let service = &compose.services[&name];
        let build = &service["build"];
        let context = compose
            .dir
            .join(build["context"].as_str().context("build.context")?);
        let dockerfile = context.join(build["dockerfile"].as_str().context("build.dockerfile")?);
        let text = fs::read_to_string(&dockerfile)
            .with_context(|| format!("{name}: reading {}", dockerfile.display()))?;
        let binary = service["command"][0].as_str().unwrap_or_default();
        let copy = text
            .lines()
            .find(|l| l.starts_with("COPY ") && l.ends_with(" /usr/local/bin/"))
            .context("the Dockerfile copies nothing into /usr/local/bin/")?;
        ensure!(
            copy.contains(&format!("target/release/{binary} ")),
            "{name} runs {binary}, not in `{copy}`"
        );
        let ignore = fs::read_to_string(dockerfile.with_file_name("Dockerfile.dockerignore"))?;
        ensure!(
            ignore.contains(&format!("!target/release/{binary}\n")),
            "Dockerfile.dockerignore leaves {binary} out of the build context"
        );
        let health = service["healthcheck"]["test"].to_string();
        ensure!(
            !health.contains("curl") || text.contains(" curl"),
            "{name}'s healthcheck runs curl, which the image lacks"
        );
    }
    Ok(())
}

#[test]
fn healthchecks_ask_the_right_port_and_path() -> Result<()> {
    let compose = Compose::load()?;
    let node_port = port_of(&compose.node_config()?)?;
    for name in compose.services_running("flotilla-node") {
        compose.ensure_healthcheck(&name, &format!("http://127.0.0.1:{node_port}/v2/"))?;
    }
    for name in compose.services_running("flotilla-gateway") {
        let port = compose.gateway_config(&name)?.http.port;
        compose.ensure_healthcheck(&name, &format!("http://127.0.0.1:{port}/readyz"))?;
    }
    Ok(())
}

#[test]
fn the_mounted_configs_pass_the_binaries_own_checks() -> Result<()> {
    let compose = Compose::load()?;
    for (binary, verb, target) in [
        ("flotilla-node", "verify", "/etc/flotilla/node.json"),
        (
            "flotilla-gateway",
            "verify-config",
            "/etc/flotilla/gateway.json",
        ),
    ] {
        for name in compose.services_running(binary) {
            let config = compose.host_file(&compose.services[&name], target)?;
            let mut cmd = Command::new(env::binary(binary)?);
            process::run(cmd.arg(verb).arg(&config), Duration::from_secs(30))?.check()?;
        }
    }
    Ok(())
}

/// `deploy/compose/compose.yaml`, parsed, with merge keys (`<<: *node`) applied.
struct Compose {
    dir: PathBuf,
    doc: Value,
    services: serde_json::Map<String, Value>,
}

impl Compose {
    fn load() -> Result<Self> {
        let dir = env::repo_root().join("deploy/compose");
        let path = dir.join("compose.yaml");
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        yaml.apply_merge()?;
        let doc = serde_json::to_value(yaml)?;
        let services = doc["services"]
            .as_object()
            .context("compose.yaml without services")?
            .clone();
        Ok(Self { dir, doc, services })
    }

    /// The services whose command runs `binary`, by name.
    fn services_running(&self, binary: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| s["command"][0] == binary)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// `(source, target)` of each of a service's volumes, in short syntax.
    fn mounts(&self, service: &Value) -> Vec<(String, String)> {
        service["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|v| {
                let mut parts = v.split(':');
                Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
            })
            .collect()
    }

    /// The host file a service mounts on `target`.
    fn host_file(&self, service: &Value, target: &str) -> Result<PathBuf> {
        let (source, _) = self
            .mounts(service)
            .into_iter()
            .find(|(_, t)| t == target)
            .with_context(|| format!("nothing is mounted on {target}"))?;
        let path = self.dir.join(&source);
        ensure!(
            path.is_file(),
            "{source} (mounted on {target}) does not exist"
        );
        Ok(path)
    }

    /// The config the nodes run (they all mount one file).
    fn node_config(&self) -> Result<Value> {
        let nodes = self.services_running("flotilla-node");
        let mut configs = nodes
            .iter()
            .map(|n| self.host_file(&self.services[n], "/etc/flotilla/node.json"))
            .collect::<Result<BTreeSet<_>>>()?;
        ensure!(
            configs.len() == 1,
            "the nodes mount different configs: {configs:?}"
        );
        let path = configs.pop_first().context("no node")?;
        Ok(serde_json::from_str(&fs::read_to_string(path)?)?)
    }

    /// The validated config gateway service `name` runs.
    fn gateway_config(&self, name: &str) -> Result<Config> {
        let path = self.host_file(&self.services[name], "/etc/flotilla/gateway.json")?;
        Ok(Config::parse(&fs::read_to_string(path)?)?.validate()?)
    }

    fn ensure_grace_above(&self, name: &str, drain: Duration) -> Result<()> {
        let service = &self.services[name];
        ensure!(
            service["stop_signal"] == "SIGTERM",
            "{name}: stop_signal is not SIGTERM"
        );
        let grace = go_duration(service["stop_grace_period"].as_str().unwrap_or("10s"))?;
        ensure!(
            grace > drain,
            "{name}: stop_grace_period {grace:?} is not above the drain time {drain:?}: SIGKILL would cut in-flight requests"
        );
        Ok(())
    }

    fn ensure_healthcheck(&self, name: &str, url: &str) -> Result<()> {
        let test = &self.services[name]["healthcheck"]["test"];
        ensure!(
            test.as_array()
                .is_some_and(|argv| argv.iter().any(|a| a == url)),
            "{name}'s healthcheck {test} does not ask {url}"
        );
        Ok(())
    }
}

/// `http.port` of a zot-style config: a string as zot writes it, or a number.
fn port_of(config: &Value) -> Result<String> {
    match &config["http"]["port"] {
        Value::String(port) => Ok(port.clone()),
        Value::Number(port) => Ok(port.to_string()),
        other => bail!("http.port is {other}"),
    }
}

/// A compose duration: `45s`, `2m`, `1m30s`.
fn go_duration(text: &str) -> Result<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits]
            .parse()
            .with_context(|| format!("duration `{text}`"))?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        total += match &rest[..unit] {
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            other => bail!("duration `{text}`: unit `{other}` not understood by the test"),
        };
        rest = &rest[unit..];
    }
    Ok(total)
}

/// The gateway's search needs search on every member: the shipped node config switches it on, with user preferences.
#[test]
fn the_shipped_node_config_serves_search() -> Result<()> {
    let node_json = Compose::load()?.node_config()?;
    let extensions = &node_json["extensions"];
    assert_eq!(extensions["search"]["enable"], true, "{node_json}");
    assert_eq!(extensions["ui"]["enable"], true, "{node_json}");
    Ok(())
}
