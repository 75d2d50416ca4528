//! The schema the gateway validates with: learned from a member's introspection at start, zot's built-in copy until then, members that disagree reported.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use flotilla_protocol::graphql::schema::{Kind, Schema, SEARCH_SDL};

use crate::members::Members;

/// Types every schema has; introspection lists them, SDL does not declare them.
const BUILT_IN: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// Enough of introspection to rebuild an SDL (type references four deep covers `[T!]!`).
const INTROSPECTION: &str = "{__schema{queryType{name} types{kind name fields{name args{name defaultValue type{...T}} type{...T}} \
     inputFields{name defaultValue type{...T}} enumValues{name}}}} \
     fragment T on __Type{kind name ofType{kind name ofType{kind name ofType{kind name}}}}";

/// The schema in force, replaced once a member's is learned.
#[derive(Debug)]
pub(crate) struct HeldSchema(RwLock<Arc<Schema>>);

impl HeldSchema {
    pub(crate) fn built_in() -> Self {
        let schema = Schema::parse(SEARCH_SDL).expect("the built-in search schema parses");
        Self(RwLock::new(Arc::new(schema)))
    }

    pub(crate) fn get(&self) -> Arc<Schema> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, schema: Schema) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(schema);
    }
}

/// Introspects every member until one answers; adopts the first member's
/// schema and logs, by member, every difference from it and from the built-in copy.
pub(crate) async fn learn(held: &HeldSchema, members: &Members, retry: Duration, limit: usize) {
    loop {
        let mut learned: Vec<(String, Schema)> = Vec::new();
        let mut unreachable = 0;
        for index in 0..members.len() {
            let name = &members.get(index).name;
            match introspect(members, index, limit).await {
                Ok(schema) => learned.push((name.clone(), schema)),
                Err(Failure::Unreachable(reason)) => {
                    unreachable += 1;
                    tracing::debug!(member = %name, %reason, "schema not learned yet");
                }
                Err(Failure::Refused(reason)) => {
                    tracing::info!(member = %name, %reason, "member gives no search schema");
                }
            }
        }
        let Some((first_name, first)) = learned.first() else {
            if unreachable == 0 {
                // Every member answered and none serves search: the built-in copy stays.
                return;
            }
            tokio::time::sleep(retry).await;
            continue;
        };
        for (name, schema) in &learned[1..] {
            let diff = differences(first, schema);
            if !diff.is_empty() {
                tracing::warn!(member = %name, compared_with = %first_name, differences = ?diff, "members serve different search schemas");
            }
        }
        let diff = differences(&held.get(), first);
        if !diff.is_empty() {
            tracing::info!(member = %first_name, differences = ?diff, "using the member's search schema, not the built-in copy");
        }
        let (_, schema) = learned.swap_remove(0);
        held.set(schema);
        return;
    }
}

/// Why a member's schema was not learned.
enum Failure {
    /// Not reached: try again later.
    Unreachable(String),
    /// It answered without a usable schema (search off, a login required…).
    Refused(String),
}

async fn introspect(members: &Members, index: usize, limit: usize) -> Result<Schema, Failure> {
    let refused = |e: String| Failure::Refused(e);
    let body = serde_json::to_vec(&json!({ "query": INTROSPECTION }))
        .map_err(|e| refused(e.to_string()))?;
    let uri = members
        .uri(index, "/v2/_zot/ext/search")
        .map_err(|e| refused(e.to_string()))?;
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .map_err(|e| refused(e.to_string()))?;
    let resp = members
        .send(index, req)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    if resp.status() != StatusCode::OK {
        return Err(refused(format!("introspection answered {}", resp.status())));
    }
    let bytes = crate::members::read_body(resp, limit)
        .await
        .map_err(Failure::Unreachable)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| refused(e.to_string()))?;
    from_introspection(&value["data"]["__schema"]).map_err(refused)
}

/// Rebuilds a schema from an introspection answer (`__schema`).
pub(crate) fn from_introspection(schema: &Value) -> Result<Schema, String> {
    if schema["queryType"]["name"] != "Query" {
        return Err("the query type is not named Query".into());
    }
    let mut sdl = String::new();
    for t in schema["types"].as_array().ok_or("no types")? {
        let name = t["name"].as_str().ok_or("a type without a name")?;
        if name.starts_with("__") || BUILT_IN.contains(&name) {
            continue;
        }
        match t["kind"].as_str().unwrap_or_default() {
            "SCALAR" => writeln!(sdl, "scalar {name}"),
            "ENUM" => {
                let values: Vec<&str> = t["enumValues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["name"].as_str())
                    .collect();
                writeln!(sdl, "enum {name} {{ {} }}", values.join(" "))
            }
            "OBJECT" => {
                let _ = writeln!(sdl, "type {name} {{");
                for f in t["fields"].as_array().into_iter().flatten() {
                    let args: Vec<String> = f["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(input_value)
                        .collect();
                    let args = if args.is_empty() {
                        String::new()
                    } else {
                        format!("({})", args.join(", "))
                    };
                    let _ = writeln!(
                        sdl,
                        "  {}{args}: {}",
                        f["name"].as_str().unwrap_or_default(),
                        type_ref(&f["type"])
                    );
                }
                writeln!(sdl, "}}")
            }
            "INPUT_OBJECT" => {
                let fields: Vec<String> = t["inputFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(input_value)
                    .collect();
                writeln!(sdl, "input {name} {{ {} }}", fields.join(" "))
            }
            other => {
                return Err(format!(
                    "type {name} is a {other}, which zot's schema has none of"
                ))
            }
        }
        .map_err(|e| e.to_string())?;
    }
    Schema::parse(&sdl).map_err(|e| e.to_string())
}

fn input_value(v: &Value) -> String {
    let default = v["defaultValue"]
        .as_str()
        .map(|d| format!(" = {d}"))
        .unwrap_or_default();
    format!(
        "{}: {}{default}",
        v["name"].as_str().unwrap_or_default(),
        type_ref(&v["type"])
    )
}

fn type_ref(t: &Value) -> String {
    match t["kind"].as_str().unwrap_or_default() {
        "NON_NULL" => format!("{}!", type_ref(&t["ofType"])),
        "LIST" => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// What one schema has that the other lacks: types, fields with their
/// arguments and types, enum values, input fields (descriptions aside).
pub(crate) fn differences(a: &Schema, b: &Schema) -> Vec<String> {
    let (a, b) = (signature(a), signature(b));
    let mut out: Vec<String> = a.symmetric_difference(&b).cloned().collect();
    out.truncate(20);
    out
}

fn signature(schema: &Schema) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in schema.types().iter().filter(|t| !t.name.starts_with("__")) {
        out.insert(format!("{} {}", t.kind.as_str(), t.name));
        match t.kind {
            Kind::Object => out.extend(t.fields.iter().map(|f| {
                let args: Vec<String> = f
                    .args
                    .iter()
                    .map(|a| format!("{}: {}", a.name, a.ty))
                    .collect();
                format!("{}.{}({}): {}", t.name, f.name, args.join(", "), f.ty)
            })),
            Kind::Enum => out.extend(t.enum_values.iter().map(|v| format!("{}.{v}", t.name))),
            Kind::InputObject => out.extend(
                t.input_fields
                    .iter()
                    .map(|f| format!("{}.{}: {}", t.name, f.name, f.ty)),
            ),
            Kind::Scalar => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use flotilla_protocol::graphql::normalize::Request;
    use flotilla_protocol::graphql::schema::SEARCH;

    use super::*;

    /// The introspection answer of the built-in schema, as a member gives it.
    async fn introspected() -> Value {
        struct Nothing;
        impl flotilla_protocol::graphql::Resolver for Nothing {
            async fn resolve(
                &self,
                _: &flotilla_protocol::graphql::normalize::Selected,
            ) -> Result<Value, flotilla_protocol::graphql::error::GqlError> {
                Ok(Value::Null)
            }
        }
        let resp = flotilla_protocol::graphql::execute(
            &SEARCH,
            &Request {
                query: INTROSPECTION.into(),
                ..Request::default()
            },
            &flotilla_protocol::graphql::cost::Budget::UNLIMITED,
            &Nothing,
        )
        .await;
        resp.data.unwrap()["__schema"].clone()
    }

    #[tokio::test]
    async fn a_members_introspection_rebuilds_the_same_schema() {
        let learned = from_introspection(&introspected().await).unwrap();
        assert_eq!(differences(&learned, &SEARCH), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_member_with_another_schema_is_reported_field_by_field() {
        let mut answer = introspected().await;
        let types = answer["types"].as_array_mut().unwrap();
        let page = types.iter_mut().find(|t| t["name"] == "PageInfo").unwrap();
        page["fields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "Extra", "args": [], "type": {"kind": "SCALAR", "name": "Int"}}));
        let learned = from_introspection(&answer).unwrap();
        assert_eq!(
            differences(&SEARCH, &learned),
            vec!["PageInfo.Extra(): Int".to_owned()]
        );
    }
}
