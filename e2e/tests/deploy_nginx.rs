//! An operator puts `deploy/nginx/nginx.conf` in front of two gateways: clients push and pull through it, and a gateway stopped with SIGTERM costs them nothing.
//!
//! nginx open source cannot poll `/readyz`; its checks are passive. A
//! draining gateway refuses new connections and closes idle ones, nginx marks
//! it failed (`max_fails=1`) and sends the request that hit it to the other
//! gateway (`proxy_next_upstream error`).

use anyhow::{ensure, Result};
use flotilla_e2e::balancer::{self, Balancer, Kind, Rendered};
use flotilla_e2e::Cluster;
use tempfile::TempDir;

#[test]
fn the_shipped_nginx_config_passes_nginx_test() -> Result<()> {
    let dir = TempDir::new()?;
    let gateways = ["127.0.0.1:5001".to_owned(), "127.0.0.1:5002".to_owned()];
    let out = Rendered::new(Kind::Nginx, dir.path(), &gateways)?.check()?;
    ensure!(out.stderr_text().contains("test is successful"), "{out}");
    Ok(())
}

#[test]
fn clients_push_and_pull_through_nginx_and_lose_nothing_when_a_gateway_drains() -> Result<()> {
    let cluster = Cluster::start(3)?;
    let mut second = cluster.another_gateway().start()?;
    let lb = Balancer::nginx(&[cluster.gateway().host_port(), second.host_port()])?;
    balancer::drain_under_traffic(&lb, &mut second, "nginx", |_| Ok(()))?;
    ensure!(
        lb.log().contains("upstream server temporarily disabled"),
        "nginx never took the stopped gateway out:\n{}",
        lb.log()
    );
    cluster.ensure_only_on_owner("deploy/app")
}
