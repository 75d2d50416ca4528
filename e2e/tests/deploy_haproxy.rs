//! An operator puts `deploy/haproxy/haproxy.cfg` in front of two gateways: clients push and pull through it, and a gateway stopped with SIGTERM costs them nothing.
//!
//! haproxy polls each gateway's `/readyz` (every 200 ms in the test copy, 2 s
//! as shipped); a draining gateway stops answering it and is taken out, and a
//! request that raced the stop is sent to the other gateway.

use std::time::Duration;

use anyhow::{ensure, Result};
use flotilla_e2e::balancer::{self, Balancer, Kind, Rendered};
use flotilla_e2e::{Cluster, Gateway};
use tempfile::TempDir;

#[test]
fn the_shipped_haproxy_config_passes_haproxy_check() -> Result<()> {
    let dir = TempDir::new()?;
    let gateways = ["127.0.0.1:5001".to_owned(), "127.0.0.1:5002".to_owned()];
    let out = Rendered::new(Kind::Haproxy, dir.path(), &gateways)?.check()?;
    ensure!(
        out.stdout_text().contains("Configuration file is valid"),
        "{out}"
    );
    Ok(())
}

#[test]
fn clients_push_and_pull_through_haproxy_and_lose_nothing_when_a_gateway_drains() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let mut second = cluster.another_gateway().start()?;
    let lb = Balancer::haproxy(&[cluster.gateway().host_port(), second.host_port()])?;
    lb.wait_servers(
        &[("gateway-1", true), ("gateway-2", true)],
        Duration::from_secs(5),
    )?;
    balancer::drain_under_traffic(&lb, &mut second, "haproxy", |lb| {
        lb.wait_servers(&[("gateway-2", false)], Duration::from_secs(2))
    })?;
    ensure_still_one_registry(&cluster, &second)
}

/// The pushed repository landed on its owner only, and the gateway left standing still serves it.
fn ensure_still_one_registry(cluster: &Cluster, stopped: &Gateway) -> Result<()> {
    cluster.ensure_only_on_owner("deploy/app")?;
    ensure!(
        cluster.gateway().http().get("/readyz").send()?.status() == 200,
        "the remaining gateway is not ready; the stopped one logged:\n{}",
        stopped.log()
    );
    Ok(())
}
