//! A member's answer checked against the field it was asked and the schema's types, before anything reads it: a string where the schema has a list, an array where it has an object, a selected field missing, are that member's error, never merged as if empty.

use serde_json::Value;

use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::graphql::schema::{Kind, Schema, TypeRef};

/// Whether `value`, a member's `data[field.key]`, has the shape the schema
/// gives `field` with its selection; the error says where it does not
/// (`Results[2].Name: a number where String is expected`).
pub(crate) fn check(schema: &Schema, field: &Selected, value: &Value) -> Result<(), String> {
    let Some(def) = schema.query_type().field(&field.name) else {
        return Ok(());
    };
    typed(schema, &def.ty, field, value).map_err(|mut misfit| {
        misfit.path.push(Step::Field(&field.key));
        misfit.to_string()
    })
}

/// Where an answer does not fit, and how: the path is gathered on the way
/// out of the walk, so an answer that fits costs no string.
struct Misfit<'a> {
    /// Innermost step first.
    path: Vec<Step<'a>>,
    what: String,
}

enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

impl<'a> Misfit<'a> {
    fn new(what: String) -> Self {
        Self {
            path: Vec::new(),
            what,
        }
    }

    fn at(mut self, step: Step<'a>) -> Self {
        self.path.push(step);
        self
    }
}

impl std::fmt::Display for Misfit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, step) in self.path.iter().rev().enumerate() {
            match step {
                Step::Field(key) if i == 0 => write!(f, "{key}")?,
                Step::Field(key) => write!(f, ".{key}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        write!(f, ": {}", self.what)
    }
}

fn typed<'a>(
    schema: &Schema,
    ty: &TypeRef,
    field: &'a Selected,
    value: &Value,
) -> Result<(), Misfit<'a>> {
    match (ty, value) {
        (TypeRef::NonNull(_), Value::Null) => {
            Err(Misfit::new(format!("null where {ty} is expected")))
        }
        (TypeRef::NonNull(inner), value) => typed(schema, inner, field, value),
        (_, Value::Null) => Ok(()),
        (TypeRef::List(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                typed(schema, inner, field, item).map_err(|m| m.at(Step::Index(i)))?;
            }
            Ok(())
        }
        (TypeRef::List(_), other) => Err(Misfit::new(format!(
            "{} where {ty} is expected",
            kind(other)
        ))),
        (TypeRef::Named(name), value) => named(schema, name, field, value),
    }
}

/// Whether `value` fits built-in scalar `name`; `None` for any other type.
fn builtin_scalar(name: &str, value: &Value) -> Option<bool> {
    Some(match name {
        "Int" => value.is_i64() || value.is_u64(),
        "Float" => value.is_number(),
        "String" => value.is_string(),
        "Boolean" => value.is_boolean(),
        "ID" => value.is_string() || value.is_number(),
        _ => return None,
    })
}

fn named<'a>(
    schema: &Schema,
    name: &str,
    field: &'a Selected,
    value: &Value,
) -> Result<(), Misfit<'a>> {
    let misfit = || Misfit::new(format!("{} where {name} is expected", kind(value)));
    // The built-in scalars, most of every answer, need no schema lookup.
    if let Some(fits) = builtin_scalar(name, value) {
        return if fits { Ok(()) } else { Err(misfit()) };
    }
    let Some(def) = schema.get(name) else {
        return Ok(());
    };
    let fits = match def.kind {
        Kind::Object => {
            let Value::Object(object) = value else {
                return Err(misfit());
            };
            for sub in &field.fields {
                let Some(child) = object.get(&sub.key) else {
                    return Err(Misfit::new(format!("no `{}` in {name}", sub.key)));
                };
                let at = |m: Misfit<'a>| m.at(Step::Field(&sub.key));
                match def.field(&sub.name) {
                    Some(f) => typed(schema, &f.ty, sub, child).map_err(at)?,
                    None if sub.name == "__typename" && !child.is_string() => {
                        return Err(at(Misfit::new(format!(
                            "{} where String is expected",
                            kind(child)
                        ))))
                    }
                    None => {}
                }
            }
            true
        }
        Kind::Enum => value.is_string(),
        // Custom scalars (zot's `Time`, `Map`) hold what their member says.
        Kind::Scalar | Kind::InputObject => true,
    };
    if fits {
        Ok(())
    } else {
        Err(misfit())
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use flotilla_protocol::graphql::normalize;
    use flotilla_protocol::graphql::schema::SEARCH;

    use super::*;

    fn field(query: &str) -> Selected {
        normalize::normalize_query(&SEARCH, query.to_owned())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn answers_of_the_schemas_shape_pass() {
        let f = field(
            "{ r: RepoListWithNewestImage { Page { TotalCount } Results { Name __typename } } }",
        );
        let ok = json!({"Page": {"TotalCount": 1}, "Results": [{"Name": "a", "__typename": "RepoSummary"}]});
        assert_eq!(check(&SEARCH, &f, &ok), Ok(()));
        // A nullable field may be null.
        let ok = json!({"Page": null, "Results": []});
        assert_eq!(check(&SEARCH, &f, &ok), Ok(()));
    }

    #[test]
    fn wrong_types_are_named_where_they_are() {
        let f = field("{ RepoListWithNewestImage { Page { TotalCount } Results { Name } } }");
        let cases = [
            (
                json!({"Page": {"TotalCount": 1}, "Results": "x"}),
                "RepoListWithNewestImage.Results: a string where [RepoSummary!] is expected",
            ),
            (
                json!({"Page": [], "Results": []}),
                "RepoListWithNewestImage.Page: a list where PageInfo is expected",
            ),
            (
                json!({"Page": {"TotalCount": 1}, "Results": [1]}),
                "RepoListWithNewestImage.Results[0]: a number where RepoSummary is expected",
            ),
            (
                json!({"Page": {"TotalCount": "1"}, "Results": []}),
                "RepoListWithNewestImage.Page.TotalCount: a string where Int is expected",
            ),
            (
                json!({"Page": {"TotalCount": 1}}),
                "RepoListWithNewestImage: no `Results` in PaginatedReposResult",
            ),
            (
                json!({"Page": {"TotalCount": 1}, "Results": [{"Name": 3}]}),
                "RepoListWithNewestImage.Results[0].Name: a number where String is expected",
            ),
            (
                json!("x"),
                "RepoListWithNewestImage: a string where PaginatedReposResult is expected",
            ),
            (
                Value::Null,
                "RepoListWithNewestImage: null where PaginatedReposResult! is expected",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(check(&SEARCH, &f, &value).unwrap_err(), want, "{value}");
        }
    }
}
