//! GraphQL over HTTP as gqlgen serves zot's search (zot-reference §1.1, §4.3): GET and POST,
//! variables and operation names, 422 for documents that do not validate, 400 for requests that
//! cannot be read, 200 with `data: null` when a resolver fails; and the extension discovery.

use anyhow::Result;
use flotilla_e2e::search_fixture::hostile::{self, ensure_refused_while_serving};
use flotilla_e2e::search_fixture::Gql;
use flotilla_e2e::{Layout, Node, Skopeo};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A node with search on, no authentication, and `library/hello:v1`.
fn node_with_one_image() -> Result<Node> {
    let node = Node::builder().search().start()?;
    let work = TempDir::new()?;
    let (layout, _) = Layout::with_image(work.path(), "v1", "transport")?;
    Skopeo::new()?.copy(&layout.reference("v1"), &node.image("library/hello:v1"))?;
    Ok(node)
}

const TWO_OPERATIONS: &str =
    "query Tags($repo: String!) { ImageList(repo: $repo) { Results { RepoName Tag } } } \
                              query Count { RepoListWithNewestImage { Page { TotalCount } } }";

fn validation_code(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["code"]
}

#[test]
fn get_runs_the_named_operation_with_its_variables() -> Result<()> {
    let node = node_with_one_image()?;

    let answer = Gql::new(node.http()).get_params(&[
        ("query", TWO_OPERATIONS),
        ("variables", r#"{"repo":"library/hello"}"#),
        ("operationName", "Tags"),
    ])?;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"data": {"ImageList": {"Results": [{"RepoName": "library/hello", "Tag": "v1"}]}}})
    );
    Ok(())
}

#[test]
fn post_with_a_json_body_answers_as_get_does() -> Result<()> {
    let node = node_with_one_image()?;
    let gql = Gql::new(node.http());

    let post = gql.post_json(&json!({
        "query": TWO_OPERATIONS,
        "operationName": "Count",
        "variables": {},
    }))?;
    let get = gql.get_params(&[("query", TWO_OPERATIONS), ("operationName", "Count")])?;

    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(
        post.body,
        json!({"data": {"RepoListWithNewestImage": {"Page": {"TotalCount": 1}}}})
    );
    assert_eq!(get.body, post.body);
    Ok(())
}

#[test]
fn answers_are_json() -> Result<()> {
    let node = node_with_one_image()?;

    let answer = Gql::new(node.http()).get("{ImageList(repo:\"\"){Page{TotalCount}}}")?;

    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    Ok(())
}

#[test]
fn an_unknown_field_fails_validation_with_422() -> Result<()> {
    let node = node_with_one_image()?;

    let answer = Gql::new(node.http()).get("{ImageList(repo:\"\"){Results{NoSuchField}}}")?;

    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(validation_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
    assert!(answer.data().is_null());
    assert!(
        answer.body["errors"][0]["locations"].is_array(),
        "{}",
        answer.body
    );
    Ok(())
}

#[test]
fn documents_that_do_not_validate_get_422() -> Result<()> {
    let node = node_with_one_image()?;
    let gql = Gql::new(node.http());
    let invalid = [
        "{ImageList(repo:\"\", nope:1){Page{TotalCount}}}",
        "{ImageList{Page{TotalCount}}}",
        "{ImageList(repo:\"\", requestedPage:{sortBy:NEWEST}){Page{TotalCount}}}",
        "{ImageList(repo:1){Page{TotalCount}}}",
        "mutation {ImageList(repo:\"\"){Page{TotalCount}}}",
    ];

    for query in invalid {
        let answer = gql.get(query)?;

        assert_eq!(answer.status, 422, "{query}: {}", answer.body);
        assert_eq!(
            validation_code(&answer.body),
            "GRAPHQL_VALIDATION_FAILED",
            "{query}"
        );
        assert!(answer.data().is_null(), "{query}");
    }
    Ok(())
}

#[test]
fn a_syntax_error_gets_422_parse_failed() -> Result<()> {
    let node = node_with_one_image()?;

    let answer = Gql::new(node.http()).get("{ImageList(repo:\"\"){Page{TotalCount}")?;

    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(validation_code(&answer.body), "GRAPHQL_PARSE_FAILED");
    Ok(())
}

#[test]
fn a_request_without_a_query_or_with_an_unknown_operation_gets_422() -> Result<()> {
    let node = node_with_one_image()?;
    let gql = Gql::new(node.http());

    let missing = gql.get_params(&[])?;
    let unknown = gql.get_params(&[("query", TWO_OPERATIONS), ("operationName", "Nope")])?;
    let ambiguous = gql.get_params(&[("query", TWO_OPERATIONS)])?;

    for answer in [missing, unknown, ambiguous] {
        assert_eq!(answer.status, 422, "{}", answer.body);
        assert_eq!(validation_code(&answer.body), "GRAPHQL_VALIDATION_FAILED");
    }
    Ok(())
}

#[test]
fn variables_that_are_not_json_get_400() -> Result<()> {
    let node = node_with_one_image()?;

    let answer =
        Gql::new(node.http()).get_params(&[("query", TWO_OPERATIONS), ("variables", "{nope")])?;

    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        json!({"errors": [{"message": "variables could not be decoded"}], "data": null})
    );
    Ok(())
}

#[test]
fn a_post_of_another_content_type_gets_400_transport_not_supported() -> Result<()> {
    let node = node_with_one_image()?;
    let gql = Gql::new(node.http());

    for content_type in ["application/graphql", "text/plain"] {
        let answer = gql.post_raw(
            content_type,
            "{ImageList(repo:\"\"){Page{TotalCount}}}".into(),
        )?;

        assert_eq!(answer.status, 400, "{content_type}");
        assert_eq!(
            answer.body,
            json!({"errors": [{"message": "transport not supported"}], "data": null}),
            "{content_type}"
        );
    }
    Ok(())
}

#[test]
fn a_post_body_that_is_not_json_gets_400() -> Result<()> {
    let node = node_with_one_image()?;

    let answer = Gql::new(node.http()).post_raw("application/json", "{nope".into())?;

    assert_eq!(answer.status, 400);
    let message = answer.message().unwrap_or_default();
    assert!(
        message.starts_with("json request body could not be decoded"),
        "{}",
        answer.body
    );
    assert!(answer.data().is_null());
    Ok(())
}

/// Hole: the node shares the gateway's normalizer, which expanded a
/// kilobyte of fragments each spreading the next twice to millions of fields
/// before any limit was checked; a MiB of nested brackets goes to a
/// recursive descent parser.
#[test]
fn fragment_and_nesting_bombs_are_refused_at_once_while_other_requests_keep_answering() -> Result<()>
{
    let node = Node::builder().search().start()?;
    ensure_refused_while_serving(&node.http(), &hostile::bombs("extensions.search.maxFields"))
}

#[test]
fn a_resolver_error_is_200_with_data_null_and_the_fields_path() -> Result<()> {
    let node = node_with_one_image()?;

    let answer =
        Gql::new(node.http()).get("{ExpandedRepoInfo(repo:\"no/such/repo\"){Summary{Name}}}")?;

    answer.ensure_resolver_error(
        "ExpandedRepoInfo",
        "repo metadata not found for given repo name",
    )?;
    assert_eq!(
        answer.body["errors"][0]["locations"],
        json!([{"line": 1, "column": 2}])
    );
    Ok(())
}

#[test]
fn one_failing_root_field_makes_all_of_data_null() -> Result<()> {
    let node = node_with_one_image()?;
    let query = "{ImageList(repo:\"\"){Page{TotalCount}} Image(image:\"library/hello:nope\"){Tag}}";

    let answer = Gql::new(node.http()).get(query)?;

    assert_eq!(answer.status, 200);
    assert!(answer.data().is_null(), "{}", answer.body);
    assert_eq!(answer.errors().len(), 1, "{}", answer.body);
    assert_eq!(
        answer.message(),
        Some("can't find image: library/hello:nope")
    );
    assert_eq!(answer.body["errors"][0]["path"], json!(["Image"]));
    Ok(())
}

#[test]
fn aliases_and_fragments_shape_the_answer() -> Result<()> {
    let node = node_with_one_image()?;
    let query = "query { first: ImageList(repo:\"library/hello\") { ...page } all: ImageList(repo:\"\") { ...page } } \
                 fragment page on PaginatedImagesResult { Page { ItemCount } Results { Tag } }";

    let answer = Gql::new(node.http()).get(query)?;

    let page = json!({"Page": {"ItemCount": 1}, "Results": [{"Tag": "v1"}]});
    assert_eq!(answer.body, json!({"data": {"first": page, "all": page}}));
    Ok(())
}

#[test]
fn discovery_lists_search_userprefs_and_mgmt_in_zots_order() -> Result<()> {
    let node = node_with_one_image()?;

    let discover: Value = node.http().get("/v2/_oci/ext/discover").send()?.json()?;

    let extension = &discover["extensions"][0];
    assert_eq!(extension["name"], "_zot");
    assert_eq!(
        extension["endpoints"],
        json!([
            "/v2/_zot/ext/search",
            "/v2/_zot/ext/userprefs",
            "/v2/_zot/ext/mgmt"
        ])
    );
    Ok(())
}

#[test]
fn without_the_extension_the_search_path_is_not_routed() -> Result<()> {
    let node = Node::start()?;

    let response = node
        .http()
        .get("/v2/_zot/ext/search?query={ImageList(repo:\"\"){Page{TotalCount}}}")
        .send()?;
    let discover: Value = node.http().get("/v2/_oci/ext/discover").send()?.json()?;

    assert_eq!(response.status(), 404);
    assert_eq!(discover, json!({"extensions": []}));
    Ok(())
}

#[test]
fn search_answers_carry_zots_cors_and_nosniff_headers() -> Result<()> {
    let node = node_with_one_image()?;

    let response = node
        .http()
        .get("/v2/_zot/ext/search")
        .query(&[("query", "{ImageList(repo:\"\"){Page{TotalCount}}}")])
        .send()?;

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        header("access-control-allow-methods").as_deref(),
        Some("GET,POST,OPTIONS")
    );
    Ok(())
}

#[test]
fn options_on_search_answers_the_allowed_methods_and_headers_only() -> Result<()> {
    let node = node_with_one_image()?;

    let response = node
        .http()
        .request(reqwest::Method::OPTIONS, "/v2/_zot/ext/search")
        .send()?;

    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["access-control-allow-methods"], "GET,POST,OPTIONS");
    assert_eq!(
        headers["access-control-allow-headers"],
        "Authorization,content-type,X-ZOT-API-CLIENT"
    );
    assert!(response.bytes()?.is_empty());
    Ok(())
}

#[test]
fn mgmt_tells_anyone_the_login_methods_without_the_htpasswd_path() -> Result<()> {
    let users = flotilla_e2e::search_fixture::users();
    let node = Node::builder().htpasswd(&users).search().start()?;

    let mgmt = node.http().get("/v2/_zot/ext/mgmt").send()?;
    let ping = node.http().get("/v2/").send()?;

    // Anonymous callers get nothing else (zot-reference §2.3.6).
    assert_eq!(ping.status(), 401);
    assert_eq!(mgmt.status(), 200);
    assert_eq!(mgmt.headers()["x-content-type-options"], "nosniff");
    let body: Value = mgmt.json()?;
    assert_eq!(body["distSpecVersion"], "1.1.1", "{body}");
    let htpasswd = &body["http"]["auth"]["htpasswd"];
    assert!(htpasswd.is_object(), "{body}");
    assert!(
        htpasswd.get("path").is_none_or(|p| p == ""),
        "the htpasswd path leaks: {body}"
    );
    Ok(())
}
