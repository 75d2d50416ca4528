//! `CVEDiffListForImages` with the minuend and the subtrahend on different members: the gateway computes it from both owners, and answers as one node holding both images does.
//!
//! Flotilla nodes do not scan, so every node answers zot's `cve search is
//! disabled`. Through the gateway that refusal has to come from the owners
//! and reach the client as one node gives it: same status, same `data:
//! null`, same message, path and location, whatever the aliases, the
//! other root fields or the way the request is sent.

use anyhow::{ensure, Result};
use flotilla_e2e::cluster::push_small_image;
use flotilla_e2e::search_fixture::Gql;
use flotilla_e2e::{Cluster, Node};
use serde_json::{json, Value};

/// Two members, a repository on each, and one node holding both.
struct Setup {
    cluster: Cluster,
    single: Node,
    minuend: String,
    subtrahend: String,
}

fn setup() -> Result<Setup> {
    let cluster = Cluster::builder().search().nodes(2).start()?;
    let names = cluster.names_on_every_member(1, |i| format!("cve-diff/app{i}"))?;
    let (minuend, subtrahend) = (names[0].clone(), names[1].clone());
    ensure!(
        cluster.owner(&minuend) != cluster.owner(&subtrahend),
        "{minuend} and {subtrahend} must live on different members"
    );
    let single = Node::builder().search().start()?;
    for repo in [&minuend, &subtrahend] {
        push_small_image(&cluster.gateway().http(), repo, "v1")?;
        push_small_image(&single.http(), repo, "v1")?;
    }
    Ok(Setup {
        cluster,
        single,
        minuend,
        subtrahend,
    })
}

impl Setup {
    /// `minuend: {…}, subtrahend: {…}` naming both pushed images.
    fn images(&self) -> String {
        format!(
            r#"minuend: {{Repo: "{}", Tag: "v1"}}, subtrahend: {{Repo: "{}", Tag: "v1"}}"#,
            self.minuend, self.subtrahend
        )
    }

    fn gateway(&self) -> Gql {
        Gql::new(self.cluster.gateway().http())
    }
}

/// The same request answered alike, byte for byte, by the node and the gateway.
fn ensure_alike(
    what: &str,
    send: impl Fn(&Gql) -> Result<flotilla_e2e::search_fixture::Answer>,
    setup: &Setup,
) -> Result<Value> {
    let single = send(&Gql::new(setup.single.http()))?;
    let gateway = send(&setup.gateway())?;
    // As text: a GraphQL answer keeps the selection's key order, which `Value` equality ignores.
    let texts = (single.body.to_string(), gateway.body.to_string());
    ensure!(
        single.status == gateway.status && texts.0 == texts.1,
        "{what}:\n  one node: {} {}\n  gateway:  {} {}",
        single.status,
        single.body,
        gateway.status,
        gateway.body
    );
    Ok(gateway.body)
}

#[test]
fn a_diff_across_members_passes_the_owners_refusal_through_as_one_node_gives_it() -> Result<()> {
    let setup = setup()?;
    let images = setup.images();

    let plain = format!(
        "{{ CVEDiffListForImages({images}) {{ Minuend {{ Repo Tag Digest }} Subtrahend {{ Repo }} CVEList {{ Id Severity PackageList {{ Name PackagePath }} }} Summary {{ Count MaxSeverity }} Page {{ TotalCount ItemCount }} }} }}"
    );
    let body = ensure_alike("every field", |gql| gql.get(&plain), &setup)?;
    ensure!(
        body["errors"][0]["message"] == "cve search is disabled"
            && body["errors"][0]["path"] == json!(["CVEDiffListForImages"])
            && body["data"].is_null(),
        "the owners' refusal, not the gateway's own: {body}"
    );

    // An alias, a paged and searched diff on line 3, and another root field
    // that the diff's null takes down with it.
    let mixed = format!(
        "query Diff {{\n  images: ImageList(repo: \"{}\") {{ Page {{ ItemCount }} }}\n  diff: CVEDiffListForImages({images}, requestedPage: {{limit: 2, offset: 1, sortBy: ALPHABETIC_ASC}}, searchedCVE: \"ssl\", excludedCVE: \"CVE-1\") {{ c: CVEList {{ Id }} }}\n}}",
        setup.minuend
    );
    let body = ensure_alike(
        "aliased, beside another field",
        |gql| gql.get(&mixed),
        &setup,
    )?;
    ensure!(
        body["errors"][0]["path"] == json!(["diff"])
            && body["errors"][0]["locations"] == json!([{"line": 3, "column": 3}]),
        "{body}"
    );

    let post = json!({
        "query": "query($m: ImageInput!, $s: ImageInput!) { CVEDiffListForImages(minuend: $m, subtrahend: $s, requestedPage: {limit: 5000}) { Summary { Count } } }",
        "variables": {
            "m": {"Repo": setup.minuend, "Tag": "v1"},
            "s": {"Repo": setup.subtrahend, "Tag": "nope", "Platform": {"Os": "linux", "Arch": "arm64"}},
        },
    });
    ensure_alike("posted with variables", |gql| gql.post_json(&post), &setup)?;
    Ok(())
}

#[test]
fn a_dead_minuend_owner_is_named_rather_than_guessed() -> Result<()> {
    let mut setup = setup()?;
    let owner = setup.cluster.owner(&setup.minuend);
    let dead = setup.cluster.member(owner).host_port();
    setup.cluster.member_mut(owner).kill()?;
    let query = format!(
        "{{ CVEDiffListForImages({}) {{ CVEList {{ Id }} }} }}",
        setup.images()
    );
    let answer = setup.gateway().get(&query)?;
    let error = &answer.body["errors"][0];
    ensure!(
        answer.status == 200 && answer.data().is_null(),
        "{}",
        answer.body
    );
    ensure!(
        error["extensions"]["code"] == "MEMBER_UNAVAILABLE"
            && error["extensions"]["member"] == dead.as_str()
            && error["path"] == json!(["CVEDiffListForImages"]),
        "{}",
        answer.body
    );
    Ok(())
}
