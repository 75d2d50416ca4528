//! Introspection (`__schema`, `__type`), answered from the schema model and shaped by the selection as it is walked.

use serde_json::{json, Map, Value};

use super::normalize::Selected;
use super::schema::{Field, InputValue, Kind, Schema, TypeDef, TypeRef};

/// The directives a client may use (and introspection lists).
const DIRECTIVES: [(&str, &str, &[&str]); 4] = [
    ("include", "Directs the executor to include this field or fragment only when the `if` argument is true.", &["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"]),
    ("skip", "Directs the executor to skip this field or fragment when the `if` argument is true.", &["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"]),
    ("deprecated", "Marks an element of a GraphQL schema as no longer supported.", &["FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INPUT_FIELD_DEFINITION", "ENUM_VALUE"]),
    ("specifiedBy", "Exposes a URL that specifies the behaviour of this scalar.", &["SCALAR"]),
];

/// The value of a root `__schema` or `__type(name:)` field.
pub(super) fn resolve(schema: &Schema, field: &Selected) -> Value {
    match field.name.as_str() {
        "__schema" => schema_object(schema, &field.fields),
        _ => {
            let name = field
                .args
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match schema.get(name) {
                Some(def) => type_object(schema, &View::Named(def), &field.fields),
                None => Value::Null,
            }
        }
    }
}

fn object(fields: &[Selected], typename: &str, mut value: impl FnMut(&Selected) -> Value) -> Value {
    let mut out = Map::with_capacity(fields.len());
    for f in fields {
        let v = if f.name == "__typename" {
            Value::String(typename.into())
        } else {
            value(f)
        };
        out.insert(f.key.clone(), v);
    }
    Value::Object(out)
}

fn schema_object(schema: &Schema, fields: &[Selected]) -> Value {
    object(fields, "__Schema", |f| match f.name.as_str() {
        "types" => Value::Array(
            schema
                .types()
                .iter()
                .map(|t| type_object(schema, &View::Named(t), &f.fields))
                .collect(),
        ),
        "queryType" => type_object(schema, &View::Named(schema.query_type()), &f.fields),
        "directives" => Value::Array(
            DIRECTIVES
                .iter()
                .map(|d| directive(schema, d, &f.fields))
                .collect(),
        ),
        _ => Value::Null,
    })
}

/// A type as introspection sees it: a named type, or a list/non-null wrapper.
enum View<'a> {
    Named(&'a TypeDef),
    Wrapper(&'static str, &'a TypeRef),
}

fn view<'a>(schema: &'a Schema, ty: &'a TypeRef) -> Option<View<'a>> {
    match ty {
        TypeRef::Named(name) => schema.get(name).map(View::Named),
        TypeRef::List(inner) => Some(View::Wrapper("LIST", inner)),
        TypeRef::NonNull(inner) => Some(View::Wrapper("NON_NULL", inner)),
    }
}

fn type_ref(schema: &Schema, ty: &TypeRef, fields: &[Selected]) -> Value {
    view(schema, ty).map_or(Value::Null, |v| type_object(schema, &v, fields))
}

fn type_object(schema: &Schema, ty: &View<'_>, fields: &[Selected]) -> Value {
    object(fields, "__Type", |f| match (ty, f.name.as_str()) {
        (View::Wrapper(kind, _), "kind") => json!(kind),
        (View::Wrapper(_, inner), "ofType") => type_ref(schema, inner, &f.fields),
        (View::Wrapper(..), _) => Value::Null,
        (View::Named(def), "kind") => json!(def.kind.as_str()),
        (View::Named(def), "name") => json!(def.name),
        (View::Named(def), "description") => json!(def.description),
        (View::Named(def), "fields") if def.kind == Kind::Object => Value::Array(
            def.fields
                .iter()
                .map(|field| field_object(schema, field, &f.fields))
                .collect(),
        ),
        (View::Named(def), "interfaces") if def.kind == Kind::Object => json!([]),
        (View::Named(def), "enumValues") if def.kind == Kind::Enum => Value::Array(
            def.enum_values
                .iter()
                .map(|v| {
                    object(&f.fields, "__EnumValue", |g| match g.name.as_str() {
                        "name" => json!(v),
                        "isDeprecated" => json!(false),
                        _ => Value::Null,
                    })
                })
                .collect(),
        ),
        (View::Named(def), "inputFields") if def.kind == Kind::InputObject => Value::Array(
            def.input_fields
                .iter()
                .map(|v| input_value(schema, v, &f.fields))
                .collect(),
        ),
        (View::Named(def), "isOneOf") if def.kind == Kind::InputObject => json!(false),
        _ => Value::Null,
    })
}

fn field_object(schema: &Schema, field: &Field, fields: &[Selected]) -> Value {
    object(fields, "__Field", |f| match f.name.as_str() {
        "name" => json!(field.name),
        "description" => json!(field.description),
        "args" => Value::Array(
            field
                .args
                .iter()
                .map(|a| input_value(schema, a, &f.fields))
                .collect(),
        ),
        "type" => type_ref(schema, &field.ty, &f.fields),
        "isDeprecated" => json!(false),
        _ => Value::Null,
    })
}

fn input_value(schema: &Schema, value: &InputValue, fields: &[Selected]) -> Value {
    object(fields, "__InputValue", |f| match f.name.as_str() {
        "name" => json!(value.name),
        "description" => json!(value.description),
        "type" => type_ref(schema, &value.ty, &f.fields),
        "defaultValue" => json!(value.default.as_ref().map(|(_, text)| text)),
        "isDeprecated" => json!(false),
        _ => Value::Null,
    })
}

fn directive(
    schema: &Schema,
    (name, description, locations): &(&str, &str, &[&str]),
    fields: &[Selected],
) -> Value {
    let arg = |n: &str, ty: TypeRef| InputValue {
        name: n.into(),
        description: None,
        ty,
        default: None,
    };
    let non_null = |n: &str| TypeRef::NonNull(Box::new(TypeRef::Named(n.into())));
    let args = match *name {
        "include" | "skip" => vec![arg("if", non_null("Boolean"))],
        "deprecated" => vec![InputValue {
            default: Some((
                json!("No longer supported"),
                "\"No longer supported\"".into(),
            )),
            ..arg("reason", TypeRef::Named("String".into()))
        }],
        _ => vec![arg("url", non_null("String"))],
    };
    object(fields, "__Directive", |f| match f.name.as_str() {
        "name" => json!(name),
        "description" => json!(description),
        "locations" => json!(locations),
        "args" => Value::Array(
            args.iter()
                .map(|a| input_value(schema, a, &f.fields))
                .collect(),
        ),
        "isRepeatable" => json!(false),
        _ => Value::Null,
    })
}
