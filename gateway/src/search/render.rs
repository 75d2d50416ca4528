//! Selections back to GraphQL text: how a planned (and rewritten) root field is sent to a member.
//!
//! Arguments are written as literals typed by the schema (enums bare,
//! strings quoted), so a member receives one self-contained operation with
//! no variables or fragments left to resolve.

use std::fmt::Write;

use serde_json::Value;

use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::graphql::schema::{InputValue, Kind, Schema, TypeRef};

/// The type of an argument the schema does not list: rendered by its JSON shape.
static UNTYPED: TypeRef = TypeRef::Named(String::new());

/// `{ <field> }`: one root field of the query type as a document.
pub(crate) fn document(schema: &Schema, field: &Selected) -> String {
    let mut out = String::from("{");
    root_field(schema, field, &mut out);
    out.push('}');
    out
}

fn root_field(schema: &Schema, field: &Selected, out: &mut String) {
    let args = schema
        .query_type()
        .field(&field.name)
        .map(|f| f.args.as_slice())
        .unwrap_or_default();
    write_field(schema, field, args, out);
}

fn write_field(schema: &Schema, field: &Selected, args: &[InputValue], out: &mut String) {
    if field.key != field.name {
        let _ = write!(out, "{}:", field.key);
    }
    out.push_str(&field.name);
    if !field.args.is_empty() {
        out.push('(');
        for (i, (name, value)) in field.args.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{name}:");
            // Introspection's `__type(name:)` is not a field of the query
            // type; its only argument is a string, as an untyped value renders.
            let ty = args
                .iter()
                .find(|a| &a.name == name)
                .map_or(&UNTYPED, |a| &a.ty);
            literal(schema, ty, value, out);
        }
        out.push(')');
    }
    if !field.fields.is_empty() {
        out.push('{');
        for (i, sub) in field.fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            // Sub-fields' arguments (introspection's `includeDeprecated`) render untyped.
            write_field(schema, sub, &[], out);
        }
        out.push('}');
    }
}

/// A JSON value as a GraphQL literal of type `ty`.
pub(crate) fn literal(schema: &Schema, ty: &TypeRef, value: &Value, out: &mut String) {
    match (ty, value) {
        (_, Value::Null) => out.push_str("null"),
        (TypeRef::NonNull(inner), v) => literal(schema, inner, v, out),
        (TypeRef::List(inner), Value::Array(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                literal(schema, inner, item, out);
            }
            out.push(']');
        }
        (TypeRef::List(inner), single) => literal(schema, inner, single, out),
        (TypeRef::Named(name), v) => match (schema.get(name).map(|t| t.kind), v) {
            (Some(Kind::Enum), Value::String(s)) => out.push_str(s),
            (Some(Kind::InputObject), Value::Object(fields)) => {
                let def = schema.get(name);
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let field_ty = def
                        .and_then(|d| d.input_fields.iter().find(|f| &f.name == k))
                        .map(|f| f.ty.clone())
                        .unwrap_or(TypeRef::Named("String".into()));
                    let _ = write!(out, "{k}:");
                    literal(schema, &field_ty, v, out);
                }
                out.push('}');
            }
            (_, Value::String(s)) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            (_, other) => out.push_str(&other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use flotilla_protocol::graphql::error::Location;
    use flotilla_protocol::graphql::normalize::{normalize_query, Selected};
    use flotilla_protocol::graphql::schema::SEARCH;

    use super::document;

    /// Locations differ between the two texts; nothing else may.
    fn unlocated(mut s: Selected) -> Selected {
        s.location = Location { line: 0, column: 0 };
        s.fields = s.fields.into_iter().map(unlocated).collect();
        s
    }

    fn round_trip(query: &str) -> String {
        let parse = |q: &str| normalize_query(&SEARCH, q).unwrap();
        let fields = parse(query);
        let text = document(&SEARCH, &fields[0]);
        let again = parse(&text);
        assert_eq!(
            unlocated(again[0].clone()),
            unlocated(fields[0].clone()),
            "{text}"
        );
        text
    }

    #[test]
    fn a_rendered_field_normalizes_to_the_same_selection() {
        let text = round_trip(
            r#"{ r: GlobalSearch(query: "al\"p", filter: {Os: ["linux"], HasToBeSigned: true}, requestedPage: {limit: 3, sortBy: DOWNLOADS}) { Page { TotalCount } Repos { Name n: Name NewestImage { Tag } } } }"#,
        );
        assert!(text.contains("sortBy:DOWNLOADS"), "{text}");
        assert!(text.starts_with("{r:GlobalSearch("), "{text}");
        round_trip(
            r#"query($p: PageInput) { ImageList(repo: "a", requestedPage: $p) { Results { Tag } } }"#,
        );
        round_trip(
            r#"{ Referrers(repo: "a", digest: "sha256:00", type: "") { Digest Annotations { Key Value } } }"#,
        );
    }
}
