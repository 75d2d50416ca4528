//! Projection: a resolver's value for a field, cut down to the selection set in its order, with GraphQL's null rules.

use serde_json::{Map, Value};

use super::error::GqlError;
use super::normalize::Selected;
use super::schema::{Schema, TypeRef};

/// gqlgen's message when a non-null field resolves to null.
pub const NULL_IN_NON_NULL: &str = "the requested element is null which the schema does not allow";

/// A `null` reached a non-null position: the error is recorded, and the
/// nearest nullable parent becomes `null` (GraphQL's null propagation).
#[derive(Debug)]
pub struct Propagate;

/// Projects `value`, the answer for root field `field` of type `ty`, onto
/// its selection; errors are recorded with their path from the root field.
/// The value is taken apart: its leaves move into the answer, not copies.
pub fn project(
    schema: &Schema,
    ty: &TypeRef,
    value: Value,
    field: &Selected,
    errors: &mut Vec<GqlError>,
) -> Result<Value, Propagate> {
    let mut path = vec![Step::Key(&field.key)];
    project_at(schema, ty, value, field, &mut path, errors)
}

/// One step of a response path, borrowed: a path is written out only for
/// an error, never for each of a page's items.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_of(path: &[Step<'_>]) -> Vec<Value> {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => Value::from(*key),
            Step::Index(i) => Value::from(*i),
        })
        .collect()
}

fn project_at<'a>(
    schema: &Schema,
    ty: &TypeRef,
    value: Value,
    field: &'a Selected,
    path: &mut Vec<Step<'a>>,
    errors: &mut Vec<GqlError>,
) -> Result<Value, Propagate> {
    match ty {
        TypeRef::NonNull(inner) => {
            let out = project_at(schema, inner, value, field, path, errors)?;
            if out.is_null() {
                errors.push(
                    GqlError::new(NULL_IN_NON_NULL)
                        .path(path_of(path))
                        .at(field.location),
                );
                return Err(Propagate);
            }
            Ok(out)
        }
        _ if value.is_null() => Ok(Value::Null),
        TypeRef::List(inner) => {
            let Value::Array(items) = value else {
                return Ok(Value::Null);
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(Step::Index(i));
                let projected = project_at(schema, inner, item, field, path, errors);
                path.pop();
                match projected {
                    Ok(v) => out.push(v),
                    // A null in a non-null item makes the whole list null.
                    Err(Propagate) => return nullable(ty),
                }
            }
            Ok(Value::Array(out))
        }
        TypeRef::Named(name) => match value {
            Value::Object(mut object) if !field.fields.is_empty() => {
                let def = schema.get(name);
                let mut out = Map::with_capacity(field.fields.len());
                for (i, sub) in field.fields.iter().enumerate() {
                    if sub.name == "__typename" {
                        out.insert(sub.key.clone(), Value::String(name.clone()));
                        continue;
                    }
                    let Some(sub_def) = def.and_then(|d| d.field(&sub.name)) else {
                        continue;
                    };
                    path.push(Step::Key(&sub.key));
                    // A field selected again under another alias is copied
                    // for all but its last selection.
                    let again = field.fields[i + 1..].iter().any(|f| f.name == sub.name);
                    let child = if again {
                        object.get(&sub.name).cloned()
                    } else {
                        object.remove(&sub.name)
                    };
                    let child = child.unwrap_or(Value::Null);
                    let projected = project_at(schema, &sub_def.ty, child, sub, path, errors);
                    path.pop();
                    match projected {
                        Ok(v) => {
                            out.insert(sub.key.clone(), v);
                        }
                        Err(Propagate) => return Ok(Value::Null),
                    }
                }
                Ok(Value::Object(out))
            }
            leaf => Ok(leaf),
        },
    }
}

/// A list's own nullability decides whether the propagation stops at it.
fn nullable(ty: &TypeRef) -> Result<Value, Propagate> {
    match ty {
        TypeRef::NonNull(_) => Err(Propagate),
        _ => Ok(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::normalize::normalize_query;
    use crate::graphql::schema::SEARCH;
    use serde_json::json;

    fn run(query: &str, value: Value) -> (Result<Value, Propagate>, Vec<GqlError>) {
        let fields = normalize_query(&SEARCH, query).unwrap();
        let root = &fields[0];
        let ty = &SEARCH.query_type().field(&root.name).unwrap().ty;
        let mut errors = Vec::new();
        (project(&SEARCH, ty, value, root, &mut errors), errors)
    }

    #[test]
    fn selection_order_and_aliases_decide_the_shape() {
        let value = json!({"Page": {"TotalCount": 2, "ItemCount": 1}, "Results": [{"RepoName": "a", "Tag": "v1", "Size": "10"}]});
        let (out, errors) = run("{ ImageList(repo: \"a\") { Results { t: Tag RepoName __typename } Page { ItemCount } } }", value);
        assert!(errors.is_empty());
        assert_eq!(
            serde_json::to_string(&out.unwrap()).unwrap(),
            r#"{"Results":[{"t":"v1","RepoName":"a","__typename":"ImageSummary"}],"Page":{"ItemCount":1}}"#
        );
    }

    #[test]
    fn a_field_under_several_aliases_answers_each() {
        let value = json!({"Results": [{"RepoName": "a", "Tag": "v1", "Vulnerabilities": {"MaxSeverity": "HIGH"}}]});
        let (out, errors) = run(
            "{ ImageList(repo: \"a\") { Results { t: Tag Tag p: Vulnerabilities { MaxSeverity } u: Tag Vulnerabilities { m: MaxSeverity } } } }",
            value,
        );
        assert!(errors.is_empty());
        assert_eq!(
            serde_json::to_string(&out.unwrap()).unwrap(),
            r#"{"Results":[{"t":"v1","Tag":"v1","p":{"MaxSeverity":"HIGH"},"u":"v1","Vulnerabilities":{"m":"HIGH"}}]}"#
        );
    }

    #[test]
    fn a_null_in_a_non_null_position_propagates_to_the_root() {
        let (out, errors) = run(
            "{ ImageList(repo: \"a\") { Results { Tag } } }",
            json!({"Results": null}),
        );
        assert!(
            out.is_err(),
            "Results is [ImageSummary!]! and ImageList is non-null"
        );
        assert_eq!(errors[0].message, NULL_IN_NON_NULL);
        assert_eq!(errors[0].path, vec![json!("ImageList"), json!("Results")]);
    }

    #[test]
    fn nullable_lists_keep_nulls_and_empty_lists_apart() {
        let (out, _) = run(
            "{ GlobalSearch(query: \"\") { Repos { Name } Images { Tag } } }",
            json!({"Repos": [], "Images": null}),
        );
        assert_eq!(out.unwrap(), json!({"Repos": [], "Images": null}));
    }
}
