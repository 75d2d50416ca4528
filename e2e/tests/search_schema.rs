//! A GraphQL client introspects a node's search endpoint and finds zot's schema, type by type.
//!
//! The expected schema is zot's `pkg/extensions/search/schema.graphql`, kept
//! verbatim in `e2e/fixtures/zot-schema.graphql` and parsed with
//! `graphql-parser`. Names, kinds, types and nullability must match;
//! descriptions may differ.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Context, Result};
use flotilla_e2e::search_fixture::Gql;
use flotilla_e2e::Node;
use graphql_parser::schema::{Definition, Type, TypeDefinition};
use serde_json::Value;

/// The standard introspection query (as GraphQL clients send it), without descriptions.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind
  name
  fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// A type reduced to what must match: its kind and its members' types
/// (`[String!]!` notation), fields with their arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Scalar,
    Object(BTreeMap<String, Field>),
    Enum(BTreeSet<String>),
    Input(BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    ty: String,
    args: BTreeMap<String, String>,
}

#[test]
fn introspection_is_on_and_the_root_is_query_alone() -> Result<()> {
    let schema = introspect()?;

    assert_eq!(schema["queryType"]["name"], "Query");
    assert!(
        schema["mutationType"].is_null(),
        "{}",
        schema["mutationType"]
    );
    assert!(
        schema["subscriptionType"].is_null(),
        "{}",
        schema["subscriptionType"]
    );
    Ok(())
}

#[test]
fn every_type_of_zots_sdl_is_introspected_with_its_kind() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let mismatches: Vec<String> = sdl
        .iter()
        .filter_map(|(name, want)| match node.get(name) {
            None => Some(format!("{name}: missing")),
            Some(got) if kind(got) != kind(want) => {
                Some(format!("{name}: is {}, zot has {}", kind(got), kind(want)))
            }
            Some(_) => None,
        })
        .collect();

    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

#[test]
fn object_types_have_zots_fields_with_the_same_types_and_nullability() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let mut mismatches = Vec::new();
    for (name, want) in &sdl {
        let (Shape::Object(want), Some(Shape::Object(got))) = (want, node.get(name)) else {
            continue;
        };
        let types = |fields: &BTreeMap<String, Field>| -> BTreeMap<String, String> {
            fields
                .iter()
                .map(|(f, d)| (f.clone(), d.ty.clone()))
                .collect()
        };
        diff(&mut mismatches, name, &types(want), &types(got));
    }

    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

#[test]
fn fields_take_zots_arguments_with_the_same_types_and_nullability() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let mut mismatches = Vec::new();
    for (name, want) in &sdl {
        let (Shape::Object(want), Some(Shape::Object(got))) = (want, node.get(name)) else {
            continue;
        };
        for (field, want) in want {
            if let Some(got) = got.get(field) {
                diff(
                    &mut mismatches,
                    &format!("{name}.{field}"),
                    &want.args,
                    &got.args,
                );
            }
        }
    }

    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

#[test]
fn enums_have_zots_values() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let mut mismatches = Vec::new();
    for (name, want) in &sdl {
        if let (Shape::Enum(want), Some(Shape::Enum(got))) = (want, node.get(name)) {
            if want != got {
                mismatches.push(format!("{name}: has {got:?}, zot has {want:?}"));
            }
        }
    }

    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

#[test]
fn input_types_have_zots_fields_with_the_same_types_and_nullability() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let mut mismatches = Vec::new();
    for (name, want) in &sdl {
        if let (Shape::Input(want), Some(Shape::Input(got))) = (want, node.get(name)) {
            diff(&mut mismatches, name, want, got);
        }
    }

    assert!(mismatches.is_empty(), "{mismatches:#?}");
    Ok(())
}

#[test]
fn no_type_beyond_zots_sdl_is_exposed() -> Result<()> {
    let (sdl, node) = (zot_sdl()?, node_types()?);

    let extra: Vec<&String> = node
        .keys()
        .filter(|name| !name.starts_with("__") && !BUILT_IN_SCALARS.contains(&name.as_str()))
        .filter(|name| !sdl.contains_key(*name))
        .collect();

    assert!(extra.is_empty(), "types zot does not have: {extra:?}");
    Ok(())
}

/// Differences between two `name → type` maps, as readable lines.
fn diff(
    out: &mut Vec<String>,
    owner: &str,
    want: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
) {
    for (name, want_ty) in want {
        match got.get(name) {
            None => out.push(format!("{owner}.{name}: missing (zot: {want_ty})")),
            Some(got_ty) if got_ty != want_ty => {
                out.push(format!("{owner}.{name}: is {got_ty}, zot has {want_ty}"))
            }
            Some(_) => {}
        }
    }
    for name in got.keys().filter(|name| !want.contains_key(*name)) {
        out.push(format!("{owner}.{name}: zot has no such member"));
    }
}

fn kind(shape: &Shape) -> &'static str {
    match shape {
        Shape::Scalar => "SCALAR",
        Shape::Object(_) => "OBJECT",
        Shape::Enum(_) => "ENUM",
        Shape::Input(_) => "INPUT_OBJECT",
    }
}

fn introspect() -> Result<Value> {
    let node = Node::builder().search().start()?;
    let data = Gql::new(node.http()).data(INTROSPECTION)?;
    Ok(data["__schema"].clone())
}

/// The node's types, as shapes.
fn node_types() -> Result<BTreeMap<String, Shape>> {
    let schema = introspect()?;
    let mut shapes = BTreeMap::new();
    for ty in schema["types"].as_array().context("__schema.types")? {
        let name = ty["name"]
            .as_str()
            .context("a type without name")?
            .to_owned();
        let shape = match ty["kind"].as_str().unwrap_or_default() {
            "SCALAR" => Shape::Scalar,
            "OBJECT" => Shape::Object(introspected_fields(ty)?),
            "ENUM" => Shape::Enum(
                ty["enumValues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["name"].as_str().map(str::to_owned))
                    .collect(),
            ),
            "INPUT_OBJECT" => Shape::Input(introspected_values(&ty["inputFields"])?),
            other => bail!("{name} is a {other}, which zot's schema has none of"),
        };
        shapes.insert(name, shape);
    }
    Ok(shapes)
}

fn introspected_fields(ty: &Value) -> Result<BTreeMap<String, Field>> {
    ty["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|field| {
            let name = field["name"].as_str().context("a field without name")?;
            Ok((
                name.to_owned(),
                Field {
                    ty: type_ref(&field["type"])?,
                    args: introspected_values(&field["args"])?,
                },
            ))
        })
        .collect()
}

fn introspected_values(list: &Value) -> Result<BTreeMap<String, String>> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|value| {
            let name = value["name"]
                .as_str()
                .context("an input value without name")?;
            Ok((name.to_owned(), type_ref(&value["type"])?))
        })
        .collect()
}

/// An introspected type reference in SDL notation: `[String!]!`.
fn type_ref(ty: &Value) -> Result<String> {
    Ok(match ty["kind"].as_str().unwrap_or_default() {
        "NON_NULL" => format!("{}!", type_ref(&ty["ofType"])?),
        "LIST" => format!("[{}]", type_ref(&ty["ofType"])?),
        _ => ty["name"]
            .as_str()
            .with_context(|| format!("a named type without name: {ty}"))?
            .to_owned(),
    })
}

/// zot's types from its SDL, as shapes.
fn zot_sdl() -> Result<BTreeMap<String, Shape>> {
    let document = graphql_parser::parse_schema::<String>(ZOT_SDL)
        .map_err(|e| anyhow::anyhow!("zot's SDL does not parse: {e}"))?;
    let mut shapes = BTreeMap::new();
    for definition in document.definitions {
        let Definition::TypeDefinition(definition) = definition else {
            continue;
        };
        let (name, shape) = match definition {
            TypeDefinition::Scalar(s) => (s.name, Shape::Scalar),
            TypeDefinition::Object(o) => {
                let fields = o
                    .fields
                    .into_iter()
                    .map(|f| {
                        let args = f
                            .arguments
                            .into_iter()
                            .map(|a| (a.name, sdl_type(&a.value_type)))
                            .collect();
                        let ty = sdl_type(&f.field_type);
                        (f.name, Field { ty, args })
                    })
                    .collect();
                (o.name, Shape::Object(fields))
            }
            TypeDefinition::Enum(e) => (
                e.name,
                Shape::Enum(e.values.into_iter().map(|v| v.name).collect()),
            ),
            TypeDefinition::InputObject(i) => (
                i.name,
                Shape::Input(
                    i.fields
                        .into_iter()
                        .map(|f| (f.name, sdl_type(&f.value_type)))
                        .collect(),
                ),
            ),
            other => bail!("zot's SDL has a type this test does not expect: {other:?}"),
        };
        shapes.insert(name, shape);
    }
    ensure!(
        shapes.contains_key("Query") && shapes.len() >= 25,
        "zot's SDL has {} types and {} Query type: not the schema this test expects",
        shapes.len(),
        if shapes.contains_key("Query") {
            "a"
        } else {
            "no"
        }
    );
    Ok(shapes)
}

fn sdl_type(ty: &Type<'_, String>) -> String {
    match ty {
        Type::NamedType(name) => name.clone(),
        Type::ListType(inner) => format!("[{}]", sdl_type(inner)),
        Type::NonNullType(inner) => format!("{}!", sdl_type(inner)),
    }
}

/// zot's SDL, compiled into the test so that it reads nothing outside the checkout.
const ZOT_SDL: &str = include_str!("../fixtures/zot-schema.graphql");
