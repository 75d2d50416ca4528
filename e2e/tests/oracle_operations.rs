//! The oracle for whole documents: aliases, fragments, variables (GET and POST), `operationName`, and
//! several root fields of different strategies in one operation answer alike from one node and from
//! 2, 3 and 5 members, each field under its alias and in the selection's order.
//!
//! Ties: the aliased lists are sorted by `UPDATE_TIME` (ties on
//! `LastUpdated`) or by name (none); each case names its list by alias.

use anyhow::Result;
use flotilla_e2e::oracle::{Case, Key, Oracle, Request, SIZES, USERS};
use serde_json::json;

const FRAGMENTS: &str = "fragment Img on ImageSummary {RepoName Tag LastUpdated DownloadCount} fragment Repo on RepoSummary {Name LastUpdated StarCount IsStarred NewestImage {...Img}}";

fn mixed(user: Option<&'static str>) -> Vec<Case> {
    let updated = Key::Fields(&["LastUpdated"]);
    vec![
        Case::get("aliases over fan-out fields", user, "{recent: RepoListWithNewestImage(requestedPage: {limit: 4 offset: 1}) {Page {TotalCount ItemCount} Results {Name LastUpdated}} names: RepoListWithNewestImage(requestedPage: {limit: 4 sortBy: ALPHABETIC_DSC}) {Results {Name}} imgs: ImageList(repo: \"\", requestedPage: {limit: 5 offset: 3 sortBy: ALPHABETIC_ASC}) {Results {RepoName Tag}}}")
            .ties(&["recent", "Results"], updated.clone())
            .universe("{recent: RepoListWithNewestImage {Page {TotalCount ItemCount} Results {Name LastUpdated}} names: RepoListWithNewestImage(requestedPage: {limit: 4 sortBy: ALPHABETIC_DSC}) {Results {Name}} imgs: ImageList(repo: \"\", requestedPage: {limit: 5 offset: 3 sortBy: ALPHABETIC_ASC}) {Results {RepoName Tag}}}"),
        Case::get("every strategy in one operation", user, &format!("query Mixed {{__typename one: ImageList(repo: \"public/alpine\") {{Page {{TotalCount}} Results {{...Img}}}} all: GlobalSearch(query: \"alp\", requestedPage: {{limit: 3 sortBy: ALPHABETIC_ASC}}) {{Page {{TotalCount ItemCount}} Repos {{...Repo}}}} image: Image(image: \"team-a/api:v2.0\") {{...Img}} derived: DerivedImageList(image: \"public/base:1.0\", requestedPage: {{limit: 2 sortBy: ALPHABETIC_ASC}}) {{Results {{...Img}}}} stars: StarredRepos(requestedPage: {{sortBy: ALPHABETIC_ASC}}) {{Results {{...Repo}}}}}} {FRAGMENTS}")),
        Case::get("a field asked twice under two aliases", user, "{a: ImageList(repo: \"\", requestedPage: {limit: 2 sortBy: ALPHABETIC_ASC}) {Results {RepoName Tag}} b: ImageList(repo: \"\", requestedPage: {limit: 2 offset: 2 sortBy: ALPHABETIC_ASC}) {Results {Tag RepoName}}}"),
        Case::get("inline fragments and __typename in lists", user, "{GlobalSearch(query: \":v1\", requestedPage: {limit: 6 sortBy: ALPHABETIC_DSC}) {__typename Page {ItemCount TotalCount} Images {__typename ... on ImageSummary {Tag RepoName}}}}"),
        Case::get("operationName picks one of two operations", user, "query A {RepoListWithNewestImage(requestedPage: {limit: 2 sortBy: ALPHABETIC_ASC}) {Results {Name}}} query B {ImageList(repo: \"\") {Page {TotalCount}}}")
            .with_request(Request::GetWith {
                query: "query A {RepoListWithNewestImage(requestedPage: {limit: 2 sortBy: ALPHABETIC_ASC}) {Results {Name}}} query B {ImageList(repo: \"\") {Page {TotalCount}}}".into(),
                variables: json!({}),
                operation: Some("B".into()),
            }),
        Case::get("variables in GET", user, "")
            .with_request(Request::GetWith {
                query: "query Q($q: String!, $p: PageInput, $f: Filter) {GlobalSearch(query: $q, requestedPage: $p, filter: $f) {Page {TotalCount ItemCount} Repos {Name}}}".into(),
                variables: json!({"q": "alpine", "p": {"limit": 3, "offset": 1, "sortBy": "ALPHABETIC_ASC"}, "f": {"Os": ["linux"]}}),
                operation: Some("Q".into()),
            }),
        Case::get("variables in POST", user, "")
            .with_request(Request::Post(json!({
                "query": format!("query P($id: String!, $page: PageInput) {{ImageListForDigest(id: $id, requestedPage: $page) {{Page {{TotalCount ItemCount}} Results {{...Img}}}}}} {FRAGMENTS}"),
                "variables": {"id": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "page": {"limit": 2}},
                "operationName": "P",
            }))),
        Case::get("POST with default variable values", user, "")
            .with_request(Request::Post(json!({
                "query": "query D($s: SortCriteria = ALPHABETIC_DSC, $l: Int = 3) {BookmarkedRepos(requestedPage: {limit: $l, sortBy: $s}) {Page {TotalCount ItemCount} Results {Name IsBookmarked}} StarredRepos(requestedPage: {limit: $l, sortBy: $s}) {Results {Name StarCount}}}",
            }))),
        Case::get("negative paging", user, "{RepoListWithNewestImage(requestedPage: {limit: -1}) {Results {Name}}}"),
    ]
}

/// Documents where a member's resolver fails: the error's `locations` must
/// point into the client's document, as the single node's do.
fn failing(user: Option<&'static str>) -> Vec<Case> {
    vec![
        Case::get("a bad sort among good fields", user, "{ok: RepoListWithNewestImage(requestedPage: {limit: 2 sortBy: ALPHABETIC_ASC}) {Results {Name}} bad: ImageList(repo: \"\", requestedPage: {sortBy: SEVERITY}) {Results {Tag}}}"),
        Case::get("a disabled CVE field after others", user, "{ok: RepoListWithNewestImage(requestedPage: {limit: 1}) {Results {Name}}\n  cve: CVEListForImage(image: \"public/alpine:3.19\") {Tag} one: ImageList(repo: \"public/alpine\", requestedPage: {sortBy: STARS}) {Results {Tag}}}"),
        Case::get("a named operation with one failing field", user, "query Named { CVEListForImage(image: \"public/alpine:3.19\") {Tag} }"),
    ]
}

#[test]
fn member_errors_point_into_the_clients_document_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = Vec::new();
    for user in USERS {
        cases.extend(failing(user));
    }

    oracle.ensure_alike(&cases)
}

#[test]
fn documents_with_aliases_fragments_and_variables_answer_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;
    let mut cases = Vec::new();
    for user in USERS {
        cases.extend(mixed(user));
    }

    oracle.ensure_alike(&cases)
}
