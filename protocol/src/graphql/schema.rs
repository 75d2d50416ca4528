//! The schema model: zot's search SDL (plus the introspection types) loaded once into types, fields and arguments.

use std::collections::HashMap;
use std::sync::LazyLock;

use graphql_parser::schema::{self as sdl, Definition, TypeDefinition};
use serde_json::Value;

/// zot's search schema, as clients see it.
pub const SEARCH_SDL: &str = include_str!("schema.graphql");
const INTROSPECTION_SDL: &str = include_str!("introspection.graphql");

/// The search schema, parsed once.
pub static SEARCH: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse(SEARCH_SDL).expect("the built-in search schema parses"));

/// A type reference: `T`, `[T]`, `T!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    /// The named type at the bottom (`[Foo!]!` → `Foo`).
    pub fn base(&self) -> &str {
        match self {
            Self::Named(name) => name,
            Self::List(inner) | Self::NonNull(inner) => inner.base(),
        }
    }

    pub fn is_non_null(&self) -> bool {
        matches!(self, Self::NonNull(_))
    }

    fn from_sdl(ty: &sdl::Type<'_, String>) -> Self {
        match ty {
            sdl::Type::NamedType(name) => Self::Named(name.clone()),
            sdl::Type::ListType(inner) => Self::List(Box::new(Self::from_sdl(inner))),
            sdl::Type::NonNullType(inner) => Self::NonNull(Box::new(Self::from_sdl(inner))),
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Named(name) => f.write_str(name),
            Self::List(inner) => write!(f, "[{inner}]"),
            Self::NonNull(inner) => write!(f, "{inner}!"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Object,
    Enum,
    InputObject,
}

impl Kind {
    /// The `__TypeKind` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "SCALAR",
            Self::Object => "OBJECT",
            Self::Enum => "ENUM",
            Self::InputObject => "INPUT_OBJECT",
        }
    }
}

/// An argument or an input-object field.
#[derive(Debug, Clone)]
pub struct InputValue {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    /// The default, already as JSON, and as GraphQL source text for introspection.
    pub default: Option<(Value, String)>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub description: Option<String>,
    pub args: Vec<InputValue>,
    pub ty: TypeRef,
}

#[derive(Debug, Clone)]
pub struct TypeDef {
    pub name: String,
    pub kind: Kind,
    pub description: Option<String>,
    /// Object fields, in SDL order.
    pub fields: Vec<Field>,
    /// Input-object fields, in SDL order.
    pub input_fields: Vec<InputValue>,
    /// Enum values, in SDL order.
    pub enum_values: Vec<String>,
}

impl TypeDef {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Every type of a schema, by name and in definition order.
#[derive(Debug)]
pub struct Schema {
    types: Vec<TypeDef>,
    index: HashMap<String, usize>,
    query: String,
}

/// An SDL that does not describe a usable schema.
#[derive(Debug, thiserror::Error)]
#[error("schema: {0}")]
pub struct SchemaError(String);

impl Schema {
    /// Parses `sdl` and adds the built-in scalars and introspection types.
    pub fn parse(sdl: &str) -> Result<Self, SchemaError> {
        let mut types = Vec::new();
        for text in [sdl, INTROSPECTION_SDL] {
            let doc = graphql_parser::parse_schema::<String>(text)
                .map_err(|e| SchemaError(e.to_string()))?;
            for def in &doc.definitions {
                if let Definition::TypeDefinition(def) = def {
                    types.push(type_def(def)?);
                }
            }
        }
        let index = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let schema = Self {
            types,
            index,
            query: "Query".into(),
        };
        schema
            .get(&schema.query)
            .ok_or_else(|| SchemaError("no Query type".into()))?;
        Ok(schema)
    }

    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.index.get(name).map(|&i| &self.types[i])
    }

    pub fn types(&self) -> &[TypeDef] {
        &self.types
    }

    pub fn query_type(&self) -> &TypeDef {
        &self.types[self.index[&self.query]]
    }
}

fn type_def(def: &TypeDefinition<'_, String>) -> Result<TypeDef, SchemaError> {
    let empty = |name: &str, kind, description: &Option<String>| TypeDef {
        name: name.to_owned(),
        kind,
        description: description.clone(),
        fields: Vec::new(),
        input_fields: Vec::new(),
        enum_values: Vec::new(),
    };
    Ok(match def {
        TypeDefinition::Scalar(s) => empty(&s.name, Kind::Scalar, &s.description),
        TypeDefinition::Object(o) => TypeDef {
            fields: o
                .fields
                .iter()
                .map(|f| {
                    Ok(Field {
                        name: f.name.clone(),
                        description: f.description.clone(),
                        args: f
                            .arguments
                            .iter()
                            .map(input_value)
                            .collect::<Result<_, _>>()?,
                        ty: TypeRef::from_sdl(&f.field_type),
                    })
                })
                .collect::<Result<_, SchemaError>>()?,
            ..empty(&o.name, Kind::Object, &o.description)
        },
        TypeDefinition::Enum(e) => TypeDef {
            enum_values: e.values.iter().map(|v| v.name.clone()).collect(),
            ..empty(&e.name, Kind::Enum, &e.description)
        },
        TypeDefinition::InputObject(i) => TypeDef {
            input_fields: i.fields.iter().map(input_value).collect::<Result<_, _>>()?,
            ..empty(&i.name, Kind::InputObject, &i.description)
        },
        TypeDefinition::Interface(i) => {
            return Err(SchemaError(format!(
                "interface {} is not supported",
                i.name
            )))
        }
        TypeDefinition::Union(u) => {
            return Err(SchemaError(format!("union {} is not supported", u.name)))
        }
    })
}

fn input_value(v: &sdl::InputValue<'_, String>) -> Result<InputValue, SchemaError> {
    let default = match &v.default_value {
        Some(value) => Some((literal(value)?, value.to_string())),
        None => None,
    };
    Ok(InputValue {
        name: v.name.clone(),
        description: v.description.clone(),
        ty: TypeRef::from_sdl(&v.value_type),
        default,
    })
}

/// A constant SDL value as JSON (defaults have no variables).
fn literal(value: &sdl::Value<'_, String>) -> Result<Value, SchemaError> {
    Ok(match value {
        sdl::Value::Null => Value::Null,
        sdl::Value::Boolean(b) => Value::Bool(*b),
        sdl::Value::String(s) | sdl::Value::Enum(s) => Value::String(s.clone()),
        sdl::Value::Int(n) => n.as_i64().map(Value::from).unwrap_or(Value::Null),
        sdl::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        sdl::Value::List(items) => {
            Value::Array(items.iter().map(literal).collect::<Result<_, _>>()?)
        }
        sdl::Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), literal(v)?)))
                .collect::<Result<_, SchemaError>>()?,
        ),
        sdl::Value::Variable(name) => {
            return Err(SchemaError(format!("variable ${name} in a default value")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_schema_loads_with_zots_shapes() {
        let query = SEARCH.query_type();
        let image_list = query.field("ImageList").unwrap();
        assert_eq!(image_list.ty.to_string(), "PaginatedImagesResult!");
        assert_eq!(image_list.args[0].name, "repo");
        assert_eq!(image_list.args[0].ty.to_string(), "String!");
        let referrers = query.field("Referrers").unwrap();
        assert_eq!(referrers.ty.to_string(), "[Referrer]!");
        assert_eq!(referrers.args[2].ty.to_string(), "[String!]");
        assert_eq!(SEARCH.get("SortCriteria").unwrap().enum_values.len(), 7);
        assert_eq!(
            SEARCH
                .get("PaginatedReposResult")
                .unwrap()
                .field("Results")
                .unwrap()
                .ty
                .to_string(),
            "[RepoSummary!]!"
        );
        assert_eq!(SEARCH.get("Filter").unwrap().kind, Kind::InputObject);
        assert_eq!(
            SEARCH.get("__Type").unwrap().field("fields").unwrap().args[0]
                .default
                .as_ref()
                .unwrap()
                .1,
            "false"
        );
        assert_eq!(query.fields.len(), 15);
    }
}
