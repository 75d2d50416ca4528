//! The normalizer on real zot queries and on documents it must refuse, with the messages a client sees.

use serde_json::{json, Map, Value};

use super::{normalize, Request, Selected};
use crate::graphql::cost::Budget;
use crate::graphql::schema::SEARCH;

fn ok(query: &str) -> Vec<Selected> {
    normalize(
        &SEARCH,
        &Request {
            query: query.into(),
            ..Request::default()
        },
        &Budget::UNLIMITED,
    )
    .unwrap_or_else(|e| panic!("{query}: {e:?}"))
}

/// `query` with `variables` within `budget`: the fields, or the errors' messages.
pub(in crate::graphql) fn within(
    query: &str,
    variables: Value,
    budget: &Budget,
) -> Result<Vec<Selected>, Vec<String>> {
    let Value::Object(variables) = variables else {
        panic!("variables are an object")
    };
    normalize(
        &SEARCH,
        &Request {
            query: query.into(),
            variables,
            ..Request::default()
        },
        budget,
    )
    .map_err(|errors| errors.into_iter().map(|e| e.message).collect())
}

fn with_vars(query: &str, variables: Value) -> Result<Vec<Selected>, Vec<String>> {
    within(query, variables, &Budget::UNLIMITED)
}

fn errors(query: &str) -> Vec<String> {
    with_vars(query, json!({})).expect_err(query)
}

fn keys(fields: &[Selected]) -> Vec<&str> {
    fields.iter().map(|f| f.key.as_str()).collect()
}

#[test]
fn zuis_home_query_normalizes_with_coerced_arguments() {
    let fields = ok(
        r#"{GlobalSearch(query:"", requestedPage: {limit:3 offset:0 sortBy: DOWNLOADS} ) {Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}}"#,
    );
    assert_eq!(fields.len(), 1);
    let search = &fields[0];
    assert_eq!(
        search.args["requestedPage"],
        json!({"limit": 3, "offset": 0, "sortBy": "DOWNLOADS"})
    );
    assert_eq!(keys(&search.fields), vec!["Page", "Repos"]);
    assert_eq!(search.fields[1].fields.len(), 9);
}

#[test]
fn a_single_string_stands_for_a_list_of_one() {
    let fields = ok(r#"{Referrers(repo: "a" digest: "sha256:00" type: ""){MediaType}}"#);
    assert_eq!(fields[0].args["type"], json!([""]));
}

#[test]
fn variables_fragments_and_aliases_are_resolved() {
    let fields = with_vars(
        r#"query Q($repo: String!, $page: PageInput = {limit: 2}) {
            first: ImageList(repo: $repo, requestedPage: $page) { ...page Results { Tag } }
            second: ImageList(repo: "b") { ... on PaginatedImagesResult { Page { TotalCount } } }
        }
        fragment page on PaginatedImagesResult { Page { ItemCount } Results { RepoName } }"#,
        json!({"repo": "a"}),
    )
    .unwrap();
    assert_eq!(keys(&fields), vec!["first", "second"]);
    assert_eq!(
        fields[0].args,
        Map::from_iter([
            ("repo".into(), json!("a")),
            ("requestedPage".into(), json!({"limit": 2}))
        ])
    );
    assert_eq!(keys(&fields[0].fields), vec!["Page", "Results"]);
    assert_eq!(
        keys(&fields[0].fields[1].fields),
        vec!["RepoName", "Tag"],
        "Results merged from the fragment and the field"
    );
}

#[test]
fn skip_and_include_drop_fields() {
    let fields = with_vars(
        r#"query($no: Boolean!) { ImageList(repo: "a") { Page @skip(if: true) { ItemCount } Results @include(if: $no) { Tag } } }"#,
        json!({"no": false}),
    )
    .unwrap();
    assert!(fields[0].fields.is_empty());
}

#[test]
fn documents_zot_refuses_are_refused_with_the_cause() {
    let cases = [
        ("{ Nope }", "Cannot query field \"Nope\" on type \"Query\"."),
        ("{ ImageList { Page { ItemCount } } }", "Field \"ImageList\" argument \"repo\" of type \"String!\" is required, but it was not provided."),
        ("{ ImageList(repo: \"a\", x: 1) { Page { ItemCount } } }", "Unknown argument \"x\" on field \"Query.ImageList\"."),
        ("{ ImageList(repo: \"a\") }", "Field \"ImageList\" of type \"PaginatedImagesResult!\" must have a selection of subfields. Did you mean \"ImageList { ... }\"?"),
        ("{ ImageList(repo: \"a\") { Page { ItemCount { x } } } }", "Field \"ItemCount\" must not have a selection since type \"Int!\" has no subfields."),
        ("{ ImageList(repo: \"a\") { ...f } }", "Unknown fragment \"f\"."),
        ("mutation { x }", "Schema does not support operation type \"mutation\""),
    ];
    for (query, message) in cases {
        let errs = errors(query);
        assert!(errs.iter().any(|e| e == message), "{query}: {errs:?}");
    }
    let bad_enum =
        errors("{ ImageList(repo: \"a\", requestedPage: {sortBy: FOO}) { Page { ItemCount } } }");
    assert!(
        bad_enum[0].contains("FOO") && bad_enum[0].contains("SortCriteria"),
        "{bad_enum:?}"
    );
    let bad_int =
        errors("{ ImageList(repo: \"a\", requestedPage: {limit: \"x\"}) { Page { ItemCount } } }");
    assert!(bad_int[0].contains("Int"), "{bad_int:?}");
}

#[test]
fn fragment_cycles_and_unused_pieces_are_errors() {
    let cycle = errors("{ ImageList(repo: \"a\") { ...a } } fragment a on PaginatedImagesResult { ...b } fragment b on PaginatedImagesResult { ...a }");
    assert!(
        cycle.iter().any(|e| e.contains("within itself")),
        "{cycle:?}"
    );
    let unused = errors(
        "{ ImageList(repo: \"a\") { Page { ItemCount } } } fragment f on PageInfo { ItemCount }",
    );
    assert_eq!(unused, vec!["Fragment \"f\" is never used."]);
    let unused_var = with_vars(
        "query($x: Int) { ImageList(repo: \"a\") { Page { ItemCount } } }",
        json!({}),
    )
    .unwrap_err();
    assert_eq!(unused_var, vec!["Variable \"$x\" is never used."]);
    let wrong_type = errors("{ ImageList(repo: \"a\") { ... on RepoSummary { Name } } }");
    assert!(
        wrong_type[0].contains("can never be of type \"RepoSummary\""),
        "{wrong_type:?}"
    );
}

#[test]
fn conflicting_aliases_are_refused() {
    let errs = errors(
        r#"{ a: ImageList(repo: "x") { Page { ItemCount } } a: ImageList(repo: "y") { Page { ItemCount } } }"#,
    );
    assert!(errs[0].starts_with("Fields \"a\" conflict"), "{errs:?}");
}

#[test]
fn variables_are_checked_against_their_types() {
    let missing = with_vars(
        "query($r: String!) { ImageList(repo: $r) { Page { ItemCount } } }",
        json!({}),
    )
    .unwrap_err();
    assert!(missing[0].contains("variable.r"), "{missing:?}");
    let wrong = with_vars(
        "query($p: PageInput) { ImageList(repo: \"a\", requestedPage: $p) { Page { ItemCount } } }",
        json!({"p": {"limit": "ten"}}),
    )
    .unwrap_err();
    assert!(wrong[0].contains("Int"), "{wrong:?}");
    let enum_var = with_vars(
        "query($p: PageInput) { ImageList(repo: \"a\", requestedPage: $p) { Page { ItemCount } } }",
        json!({"p": {"sortBy": "UPDATE_TIME"}}),
    )
    .unwrap();
    assert_eq!(enum_var[0].args["requestedPage"]["sortBy"], "UPDATE_TIME");
}

#[test]
fn parse_errors_carry_a_location_and_code() {
    let errs = normalize(
        &SEARCH,
        &Request {
            query: "{ ImageList(repo: ".into(),
            ..Request::default()
        },
        &Budget::UNLIMITED,
    )
    .unwrap_err();
    assert_eq!(
        errs[0].extensions.as_ref().unwrap()["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    assert!(!errs[0].locations.is_empty());
}

#[test]
fn hostile_nesting_is_refused_not_overflowed() {
    let deep = format!(
        "{{ __schema {{ types {}name{} }} }}",
        "{ fields { type ".repeat(200),
        " } }".repeat(200)
    );
    assert_eq!(
        errors(&deep),
        ["the document nests brackets deeper than 50 levels"],
        "refused on the text, before the parser recurses"
    );
    // Each fragment is shallow; expanded, they nest far deeper than any client needs.
    let mut query = String::from("{ __schema { types { ...f0 } } }");
    for i in 0..40 {
        query.push_str(&format!(
            " fragment f{i} on __Type {{ ofType {{ ofType {{ ...f{} }} }} }}",
            i + 1
        ));
    }
    query.push_str(" fragment f40 on __Type { name }");
    let errs = errors(&query);
    assert!(
        errs.iter().any(|e| e.contains("nested too deeply")),
        "{errs:?}"
    );
}
