//! What the fuzz targets share: one input cut into the parts a target reads, and the checks on normalized GraphQL more than one target makes.

use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::graphql::schema::Schema;

/// Between the parts of one input: a line of three dashes, so that seeds
/// stay readable text and mutations rarely cut a part in two.
pub const SEPARATOR: &str = "\n---\n";

/// The input's parts, or `None` when it is not UTF-8 (every parser here
/// reads text that hyper or serde has already checked).
pub fn parts(data: &[u8]) -> Option<Vec<&str>> {
    std::str::from_utf8(data)
        .ok()
        .map(|s| s.split(SEPARATOR).collect())
}

/// Panics unless every selected field is a field of its parent type in
/// `schema` (the root's parent is the query type): what validation promises
/// every resolver, the projector and the planner.
pub fn assert_conforms(schema: &Schema, fields: &[Selected]) {
    walk(schema, schema.query_type().name.as_str(), fields);
}

fn walk(schema: &Schema, parent: &str, fields: &[Selected]) {
    for f in fields {
        assert!(!f.key.is_empty(), "a field without a response key: {f:?}");
        if f.name.starts_with("__") {
            // Introspection has its own types, checked by its resolver.
            continue;
        }
        let ty = schema
            .get(parent)
            .and_then(|t| t.field(&f.name))
            .unwrap_or_else(|| panic!("`{}` is not a field of `{parent}`", f.name));
        walk(schema, ty.ty.base(), &f.fields);
    }
}

/// The response keys of `value`'s objects, at any depth, that start with `prefix`.
pub fn keys_starting(value: &serde_json::Value, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                found.extend(map.keys().filter(|k| k.starts_with(prefix)).cloned());
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Panics unless `value` survives serialization as the same JSON.
pub fn assert_round_trips(value: &serde_json::Value) {
    let text = serde_json::to_vec(value).expect("a merged value serializes");
    let back: serde_json::Value = serde_json::from_slice(&text).expect("and parses back");
    assert_eq!(&back, value, "JSON round trip changed the value");
}
