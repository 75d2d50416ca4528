//! Execution end to end: root fields through a resolver, errors as gqlgen shapes them, and introspection against the schema document.

use http::StatusCode;
use serde_json::{json, Value};

use super::cost::Budget;
use super::error::GqlError;
use super::normalize::{Request, Selected};
use super::schema::{Kind, SEARCH};
use super::{execute, Resolver};

/// Answers `ImageList` with one image, and fails `ExpandedRepoInfo` as zot does for an unknown repository.
struct Fixture;

impl Resolver for Fixture {
    async fn resolve(&self, field: &Selected) -> Result<Value, GqlError> {
        match field.name.as_str() {
            "ImageList" => Ok(json!({
                "Page": {"TotalCount": 1, "ItemCount": 1},
                "Results": [{"RepoName": field.args["repo"], "Tag": "v1", "Size": "42", "LastUpdated": null}]
            })),
            _ => Err(GqlError::new("repo metadata not found for given repo name")),
        }
    }
}

async fn run(query: &str) -> super::Response {
    execute(
        &SEARCH,
        &Request {
            query: query.into(),
            ..Request::default()
        },
        &Budget::UNLIMITED,
        &Fixture,
    )
    .await
}

#[tokio::test]
async fn fields_are_answered_in_document_order_under_their_aliases() {
    let resp = run(r#"{ b: ImageList(repo: "x") { Results { Tag Size } } __typename a: ImageList(repo: "y") { Page { TotalCount } } }"#).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        String::from_utf8(resp.to_bytes()).unwrap(),
        r#"{"data":{"b":{"Results":[{"Tag":"v1","Size":"42"}]},"__typename":"Query","a":{"Page":{"TotalCount":1}}}}"#
    );
}

#[tokio::test]
async fn a_resolver_error_nulls_data_and_keeps_the_path() {
    let resp = run(r#"{ ImageList(repo: "x") { Page { TotalCount } } ExpandedRepoInfo(repo: "nope") { Summary { Name } } }"#).await;
    assert_eq!(resp.status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&resp.to_bytes()).unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["errors"][0]["message"],
        "repo metadata not found for given repo name"
    );
    assert_eq!(body["errors"][0]["path"], json!(["ExpandedRepoInfo"]));
    assert_eq!(body["errors"][0]["locations"][0]["line"], 1);
}

#[tokio::test]
async fn invalid_documents_are_422_with_null_data() {
    let resp = run("{ Nope }").await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_slice(&resp.to_bytes()).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_eq!(body["data"], Value::Null);
}

/// The standard introspection query (as GraphiQL and gqlgen clients send it).
pub(super) const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }"#;

fn type_string(t: &Value) -> String {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_string(&t["ofType"])),
        "LIST" => format!("[{}]", type_string(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn introspection_describes_every_type_field_and_argument_of_the_schema() {
    let resp = run(INTROSPECTION).await;
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    let schema = &resp.data.unwrap()["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"], Value::Null);
    let types = schema["types"].as_array().unwrap();
    for def in SEARCH.types() {
        let t = types
            .iter()
            .find(|t| t["name"] == def.name.as_str())
            .unwrap_or_else(|| panic!("{}", def.name));
        assert_eq!(t["kind"], def.kind.as_str());
        match def.kind {
            Kind::Object => {
                let fields = t["fields"].as_array().unwrap();
                assert_eq!(fields.len(), def.fields.len(), "{}", def.name);
                for (f, d) in fields.iter().zip(&def.fields) {
                    assert_eq!(f["name"], d.name.as_str());
                    assert_eq!(
                        type_string(&f["type"]),
                        d.ty.to_string(),
                        "{}.{}",
                        def.name,
                        d.name
                    );
                    let args: Vec<String> = f["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| {
                            format!(
                                "{}: {}",
                                a["name"].as_str().unwrap(),
                                type_string(&a["type"])
                            )
                        })
                        .collect();
                    let want: Vec<String> = d
                        .args
                        .iter()
                        .map(|a| format!("{}: {}", a.name, a.ty))
                        .collect();
                    assert_eq!(args, want, "{}.{}", def.name, d.name);
                }
            }
            Kind::Enum => assert_eq!(
                t["enumValues"].as_array().unwrap().len(),
                def.enum_values.len()
            ),
            Kind::InputObject => assert_eq!(
                t["inputFields"].as_array().unwrap().len(),
                def.input_fields.len()
            ),
            Kind::Scalar => assert_eq!(t["fields"], Value::Null),
        }
    }
    let skip = schema["directives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "skip")
        .unwrap();
    assert_eq!(type_string(&skip["args"][0]["type"]), "Boolean!");
}

#[tokio::test]
async fn type_lookup_answers_one_type_or_null() {
    let resp = run(r#"{ __type(name: "PageInfo") { name kind fields { name type { kind ofType { name } } } } missing: __type(name: "Nope") { name } }"#).await;
    assert_eq!(
        resp.data.unwrap(),
        json!({
            "__type": {"name": "PageInfo", "kind": "OBJECT", "fields": [
                {"name": "TotalCount", "type": {"kind": "NON_NULL", "ofType": {"name": "Int"}}},
                {"name": "ItemCount", "type": {"kind": "NON_NULL", "ofType": {"name": "Int"}}}
            ]},
            "missing": null
        })
    );
}
