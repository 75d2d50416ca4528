//! The table applied to real documents, with no network: each field's strategy for a known placement.

use flotilla_protocol::graphql::normalize::normalize_query;
use flotilla_protocol::graphql::schema::SEARCH;

use super::*;
use crate::config::{MetaDb, Placement};
use crate::placement::Ring;

fn ring() -> Ring {
    Ring::new(
        Placement::Zot,
        *b"loremipsumdolors",
        vec!["m1".into(), "m2".into(), "m3".into()],
    )
}

fn plan(query: &str, meta: MetaDb) -> Vec<Strategy> {
    let fields = normalize_query(&SEARCH, query).unwrap();
    fields.iter().map(|f| strategy(f, &ring(), meta)).collect()
}

fn one(query: &str) -> Strategy {
    plan(query, MetaDb::PerNode).remove(0)
}

#[test]
fn repository_fields_go_to_the_owner() {
    // zot-reference §3.2: of 3 members, "library/alpine" is member 0 and "alpine" member 1.
    assert_eq!(
        one(r#"{ImageList(repo:"library/alpine"){Page{ItemCount}}}"#),
        Strategy::Owner(0)
    );
    assert_eq!(
        one(r#"{ExpandedRepoInfo(repo:"alpine"){Summary{Name}}}"#),
        Strategy::Owner(1)
    );
    assert_eq!(
        one(r#"{Image(image:"alpine:3.19"){Tag}}"#),
        Strategy::Owner(1)
    );
    assert_eq!(
        one(r#"{Referrers(repo:"alpine", digest:"sha256:00"){Digest}}"#),
        Strategy::Owner(1)
    );
    assert_eq!(
        one(r#"{CVEListForImage(image:"library/alpine@sha256:ab:cd"){Tag}}"#),
        Strategy::Owner(0)
    );
    assert_eq!(
        one(r#"{CVEListForImage(image:"alpine:3.19"){Tag}}"#),
        Strategy::Owner(1)
    );
    assert_eq!(
        one(r#"{ImageListWithCVEFixed(id:"CVE-1", image:"alpine"){Page{ItemCount}}}"#),
        Strategy::Owner(1)
    );
    assert_eq!(
        one(r#"{Image(image:"alpine"){Tag}}"#),
        Strategy::Any,
        "no tag: zot's error from any member"
    );
}

#[test]
fn lists_over_the_fleet_fan_out() {
    assert_eq!(
        one(r#"{ImageList(repo:""){Page{ItemCount}}}"#),
        Strategy::FanOut(Merge::Images)
    );
    assert_eq!(
        one(r#"{RepoListWithNewestImage{Page{ItemCount}}}"#),
        Strategy::FanOut(Merge::Repos)
    );
    assert_eq!(
        one(r#"{ImageListForDigest(id:"sha256:ab"){Page{ItemCount}}}"#),
        Strategy::FanOut(Merge::Images)
    );
    assert_eq!(
        one(r#"{ImageListForCVE(id:"CVE-1"){Page{ItemCount}}}"#),
        Strategy::FanOut(Merge::Images)
    );
}

#[test]
fn global_search_follows_zots_query_targets() {
    let gs = |q: &str| {
        one(&format!(
            r#"{{GlobalSearch(query:{q:?}){{Page{{ItemCount}}}}}}"#
        ))
    };
    assert_eq!(gs(""), Strategy::FanOut(Merge::Repos));
    assert_eq!(gs("alp"), Strategy::FanOut(Merge::Repos));
    assert_eq!(
        gs(" /Alpine:3/ "),
        Strategy::Owner(1),
        "cleaned to alpine:3"
    );
    assert_eq!(gs(":3.19"), Strategy::FanOut(Merge::Images));
    assert_eq!(gs("sha256:abc"), Strategy::FanOut(Merge::Images));
    assert_eq!(gs("a@b"), Strategy::Any, "zot: invalid search query");
    assert_eq!(gs(&"x".repeat(257)), Strategy::Any);
    assert_eq!(
        one(r#"{GlobalSearch(query:"", requestedPage:{limit:-1}){Page{ItemCount}}}"#),
        Strategy::Any
    );
}

#[test]
fn user_data_depends_on_where_metadata_lives() {
    let q = "{StarredRepos{Page{ItemCount}} BookmarkedRepos{Page{ItemCount}}}";
    assert_eq!(
        plan(q, MetaDb::PerNode),
        vec![Strategy::FanOut(Merge::Repos); 2]
    );
    assert_eq!(plan(q, MetaDb::Shared), vec![Strategy::Any; 2]);
}

#[test]
fn computed_and_local_fields() {
    assert_eq!(
        one(r#"{DerivedImageList(image:"a:1"){Page{ItemCount}}}"#),
        Strategy::LayerRelation { base: false }
    );
    assert_eq!(
        one(r#"{BaseImageList(image:"a:1"){Page{ItemCount}}}"#),
        Strategy::LayerRelation { base: true }
    );
    assert_eq!(one("{__schema{queryType{name}}}"), Strategy::Local);
    let diff = |m: &str, s: &str| {
        one(&format!(
            r#"{{CVEDiffListForImages(minuend:{{Repo:"{m}",Tag:"1"}}, subtrahend:{{Repo:"{s}",Tag:"1"}}){{Page{{ItemCount}}}}}}"#
        ))
    };
    assert_eq!(diff("alpine", ""), Strategy::Owner(1));
    assert_eq!(
        diff("alpine", "zot-test"),
        Strategy::Owner(1),
        "both on member 1"
    );
    assert_eq!(diff("alpine", "busybox"), Strategy::CveDiff);
}
