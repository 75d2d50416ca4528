//! An operator applies `deploy/kubernetes/`: a StatefulSet of nodes, a Deployment of gateways whose members are exactly those pods, and Services that reach them.
//!
//! CI has no cluster, so the manifests are checked statically: every YAML
//! document parsed and held to what a working cluster needs (names,
//! selectors, ports, probes, grace periods); the configs in the ConfigMaps
//! pass the binaries' own checks.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::{env, process};
use flotilla_gateway::config::Config;
use serde_json::Value;
use tempfile::TempDir;

/// How long `flotilla-node` drains after SIGTERM (`DRAIN_DEADLINE` in registry-node/src/server.rs).
const NODE_DRAIN: Duration = Duration::from_secs(30);

#[test]
fn kustomize_applies_every_manifest_in_one_namespace() -> Result<()> {
    let manifests = Manifests::load()?;
    let kustomization = &manifests.kustomization;
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .context("kustomization.yaml without resources")?
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        listed, manifests.files,
        "kustomization.yaml resources vs the files beside it"
    );
    let namespace = manifests.one("Namespace", None)?["metadata"]["name"].clone();
    for doc in manifests.docs.iter().filter(|d| d["kind"] != "Namespace") {
        ensure!(
            doc["metadata"]["namespace"] == namespace,
            "{} {} is not in namespace {namespace}",
            doc["kind"],
            doc["metadata"]["name"]
        );
    }
    Ok(())
}

#[test]
fn the_gateways_members_are_exactly_the_statefulset_pods() -> Result<()> {
    let manifests = Manifests::load()?;
    let nodes = manifests.one("StatefulSet", Some("flotilla-node"))?;
    let headless = manifests.one("Service", nodes["spec"]["serviceName"].as_str())?;
    ensure!(
        headless["spec"]["clusterIP"] == "None",
        "{} is not headless",
        headless["metadata"]["name"]
    );
    ensure_selects(headless["spec"]["selector"].clone(), nodes)?;

    let (sts, svc) = (name(nodes), name(headless));
    let namespace = nodes["metadata"]["namespace"]
        .as_str()
        .context("namespace")?;
    let replicas = nodes["spec"]["replicas"].as_u64().context("replicas")?;
    let port = port_of(&manifests.node_config()?)?;
    let want: Vec<String> = (0..replicas)
        .map(|i| format!("{sts}-{i}.{svc}.{namespace}.svc.cluster.local:{port}"))
        .collect();

    let gateway = manifests.gateway_config()?;
    assert_eq!(
        gateway.cluster.members, want,
        "cluster.members in the gateway ConfigMap"
    );
    assert_eq!(
        gateway.cluster.hash_key.chars().count(),
        16,
        "hashKey length"
    );
    Ok(())
}

#[test]
fn ports_agree_between_configs_containers_probes_and_services() -> Result<()> {
    let manifests = Manifests::load()?;
    let node_port = port_of(&manifests.node_config()?)?;
    let gateway_port = manifests.gateway_config()?.http.port;
    for (workload, port) in [
        (
            manifests.one("StatefulSet", Some("flotilla-node"))?,
            node_port,
        ),
        (
            manifests.one("Deployment", Some("flotilla-gateway"))?,
            gateway_port,
        ),
    ] {
        let container = &workload["spec"]["template"]["spec"]["containers"][0];
        let http = container_port(container, "http")?;
        ensure!(
            http == u64::from(port),
            "{}: containerPort {http}, config port {port}",
            name(workload)
        );
        for probe in ["readinessProbe", "livenessProbe"] {
            let probe_port = &container[probe]["httpGet"]["port"];
            ensure!(
                probe_port == "http" || *probe_port == http,
                "{}: {probe} on port {probe_port}",
                name(workload)
            );
        }
    }
    for service in manifests.all("Service") {
        let workload = manifests
            .docs
            .iter()
            .find(|d| {
                matches!(d["kind"].as_str(), Some("StatefulSet" | "Deployment"))
                    && selects(&service["spec"]["selector"], d)
            })
            .with_context(|| format!("Service {} selects no workload", name(service)))?;
        let container = &workload["spec"]["template"]["spec"]["containers"][0];
        for port in service["spec"]["ports"].as_array().context("ports")? {
            match &port["targetPort"] {
                Value::String(named) => {
                    container_port(container, named)?;
                }
                Value::Number(n) => ensure!(
                    container_port_numbers(container).contains(&n.as_u64().unwrap_or(0)),
                    "Service {}: targetPort {n}",
                    name(service)
                ),
                other => bail!("Service {}: targetPort {other}", name(service)),
            }
        }
    }
    Ok(())
}

#[test]
fn gateways_are_ready_on_readyz_alive_on_livez_and_drain_before_sigkill() -> Result<()> {
    let manifests = Manifests::load()?;
    let deployment = manifests.one("Deployment", Some("flotilla-gateway"))?;
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    let pre_stop = pre_stop_sleep(container)?;
    let drain = manifests.gateway_config()?.timeouts.drain;
    let grace = Duration::from_secs(
        pod["terminationGracePeriodSeconds"]
            .as_u64()
            .context("terminationGracePeriodSeconds")?,
    );
    ensure!(
        grace > pre_stop + drain,
        "terminationGracePeriodSeconds {grace:?} is not above preStop {pre_stop:?} + drain {drain:?}: SIGKILL would cut in-flight requests"
    );
    ensure!(
        deployment["spec"]["replicas"].as_u64() >= Some(2),
        "fewer than 2 gateways"
    );
    ensure!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0,
        "a rollout may take gateways down before their replacements are ready"
    );
    let pdb = manifests.one("PodDisruptionBudget", Some("flotilla-gateway"))?;
    ensure_selects(pdb["spec"]["selector"]["matchLabels"].clone(), deployment)
}

#[test]
fn nodes_keep_their_data_on_their_own_claims_and_drain_before_sigkill() -> Result<()> {
    let manifests = Manifests::load()?;
    let nodes = manifests.one("StatefulSet", Some("flotilla-node"))?;
    let pod = &nodes["spec"]["template"]["spec"];
    let node = manifests.node_config()?;
    let root = node["storage"]["rootDirectory"]
        .as_str()
        .context("storage.rootDirectory")?;
    let claims: Vec<&str> = nodes["spec"]["volumeClaimTemplates"]
        .as_array()
        .context("no volumeClaimTemplates")?
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"] == root)
        .with_context(|| format!("nothing is mounted on storage.rootDirectory {root}"))?;
    let volume = mount["name"].as_str().unwrap_or_default();
    ensure!(
        claims.contains(&volume),
        "{root} is on `{volume}`, not a volumeClaimTemplate ({claims:?})"
    );
    let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30));
    ensure!(
        grace > NODE_DRAIN,
        "terminationGracePeriodSeconds {grace:?} is not above the node's drain {NODE_DRAIN:?}"
    );
    Ok(())
}

#[test]
fn every_container_runs_unprivileged_on_a_read_only_root() -> Result<()> {
    let manifests = Manifests::load()?;
    for workload in manifests
        .all("StatefulSet")
        .chain(manifests.all("Deployment"))
    {
        let pod = &workload["spec"]["template"]["spec"];
        ensure!(
            pod["securityContext"]["runAsNonRoot"] == true,
            "{}: runAsNonRoot",
            name(workload)
        );
        for container in pod["containers"].as_array().context("containers")? {
            let security = &container["securityContext"];
            ensure!(
                security["readOnlyRootFilesystem"] == true,
                "{}: readOnlyRootFilesystem",
                name(workload)
            );
            ensure!(
                security["allowPrivilegeEscalation"] == false,
                "{}: allowPrivilegeEscalation",
                name(workload)
            );
            ensure!(
                security["capabilities"]["drop"] == serde_json::json!(["ALL"]),
                "{}: capabilities",
                name(workload)
            );
        }
    }
    Ok(())
}

#[test]
fn the_configmaps_configs_pass_the_binaries_own_checks() -> Result<()> {
    let manifests = Manifests::load()?;
    let dir = TempDir::new()?;
    for (binary, verb, configmap, key) in [
        ("flotilla-node", "verify", "flotilla-node", "node.json"),
        (
            "flotilla-gateway",
            "verify-config",
            "flotilla-gateway",
            "gateway.json",
        ),
    ] {
        let path = dir.path().join(key);
        fs::write(&path, manifests.config_text(configmap, key)?)?;
        let mut cmd = Command::new(env::binary(binary)?);
        process::run(cmd.arg(verb).arg(&path), Duration::from_secs(30))?.check()?;
    }
    Ok(())
}

/// Every YAML document under `deploy/kubernetes/`, as JSON.
struct Manifests {
    docs: Vec<Value>,
    kustomization: Value,
    /// The file names, but kustomization.yaml.
    files: BTreeSet<String>,
}

impl Manifests {
    fn load() -> Result<Self> {
        let dir = env::repo_root().join("deploy/kubernetes");
        let mut docs = Vec::new();
        let mut files = BTreeSet::new();
        let mut kustomization = Value::Null;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let file = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !file.ends_with(".yaml") {
                continue;
            }
            let text = fs::read_to_string(&path)?;
            for (i, doc) in documents(&text).iter().enumerate() {
                let doc: serde_yaml::Value = serde_yaml::from_str(doc)
                    .with_context(|| format!("parsing document {i} of {file}"))?;
                let doc = serde_json::to_value(doc)?;
                if doc.is_null() {
                    continue;
                }
                ensure!(
                    doc["apiVersion"].is_string() && doc["kind"].is_string(),
                    "{file} document {i}: no apiVersion/kind"
                );
                if doc["kind"] == "Kustomization" {
                    kustomization = doc;
                } else {
                    docs.push(doc);
                }
            }
            if file != "kustomization.yaml" {
                files.insert(file);
            }
        }
        Ok(Self {
            docs,
            kustomization,
            files,
        })
    }

    fn all<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.docs.iter().filter(move |d| d["kind"] == kind.as_str())
    }

    /// The one document of `kind` (named `name`, if given).
    fn one(&self, kind: &str, name: Option<&str>) -> Result<&Value> {
        let found: Vec<&Value> = self
            .all(kind)
            .filter(|d| name.is_none_or(|n| d["metadata"]["name"] == n))
            .collect();
        match found.as_slice() {
            [one] => Ok(one),
            other => bail!("{} documents of kind {kind} named {name:?}", other.len()),
        }
    }

    /// `data[key]` of ConfigMap `name`.
    fn config_text(&self, name: &str, key: &str) -> Result<String> {
        let map = self.one("ConfigMap", Some(name))?;
        map["data"][key]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("ConfigMap {name} has no {key}"))
    }

    fn node_config(&self) -> Result<Value> {
        let text = self.config_text("flotilla-node", "node.json")?;
        serde_json::from_str(&text).context("node.json in ConfigMap flotilla-node")
    }

    fn gateway_config(&self) -> Result<Config> {
        Ok(Config::parse(&self.config_text("flotilla-gateway", "gateway.json")?)?.validate()?)
    }
}

/// `http.port` of a zot-style config: a string as zot writes it, or a number.
fn port_of(config: &Value) -> Result<u16> {
    match &config["http"]["port"] {
        Value::String(port) => Ok(port.parse()?),
        other => Ok(other.as_u64().context("http.port")?.try_into()?),
    }
}

/// The documents of a multi-document YAML file (separated by `---` lines).
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
        }
    }
    docs
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("?")
}

/// Whether every label of `selector` is on `workload`'s pod template.
fn selects(selector: &Value, workload: &Value) -> bool {
    let labels = &workload["spec"]["template"]["metadata"]["labels"];
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k] == *v))
}

fn ensure_selects(selector: Value, workload: &Value) -> Result<()> {
    ensure!(
        selects(&selector, workload),
        "selector {selector} does not match {}'s pods",
        name(workload)
    );
    ensure!(
        workload["spec"]["selector"]["matchLabels"]
            .as_object()
            .is_some_and(|m| selects(&Value::Object(m.clone()), workload)),
        "{}'s own selector does not match its pods",
        name(workload)
    );
    Ok(())
}

/// `containerPort` of the port named `port_name`.
fn container_port(container: &Value, port_name: &str) -> Result<u64> {
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == port_name)
        .and_then(|p| p["containerPort"].as_u64())
        .with_context(|| {
            format!(
                "container {} has no port named {port_name}",
                container["name"]
            )
        })
}

fn container_port_numbers(container: &Value) -> Vec<u64> {
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["containerPort"].as_u64())
        .collect()
}

/// How long the container's preStop hook sleeps (`sleep N` or the `sleep` action).
fn pre_stop_sleep(container: &Value) -> Result<Duration> {
    let pre_stop = &container["lifecycle"]["preStop"];
    if let Some(seconds) = pre_stop["sleep"]["seconds"].as_u64() {
        return Ok(Duration::from_secs(seconds));
    }
    match pre_stop["exec"]["command"].as_array().map(Vec::as_slice) {
        Some([sleep, n]) if sleep == "sleep" => {
            Ok(Duration::from_secs(n.as_str().unwrap_or_default().parse()?))
        }
        _ => bail!(
            "no preStop sleep: Services would still send to a pod already draining ({pre_stop})"
        ),
    }
}

/// The gateway's search needs search on every member: the shipped node config switches it on, with user preferences.
#[test]
fn the_shipped_node_config_serves_search() -> Result<()> {
    let node_json = Manifests::load()?.node_config()?;
    let extensions = &node_json["extensions"];
    assert_eq!(extensions["search"]["enable"], true, "{node_json}");
    assert_eq!(extensions["ui"]["enable"], true, "{node_json}");
    Ok(())
}
