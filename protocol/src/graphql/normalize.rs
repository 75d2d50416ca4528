//! From a request to a normalized operation: parse, pick the operation, coerce variables, expand fragments, check every field and argument against the schema.
//!
//! The result is a tree of [`Selected`] fields, merged by response key, with
//! arguments already coerced to JSON: what resolvers, the projector and the
//! gateway's planner all work on.

use std::collections::{HashMap, HashSet};

use graphql_parser::query::{
    self as q, Definition, Directive, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet,
};
use graphql_parser::Pos;
use serde_json::{Map, Value};

use super::cost::{self, Budget, MAX_DEPTH};
use super::error::{GqlError, Location, PARSE_FAILED, VALIDATION_FAILED};
use super::schema::{Kind, Schema, TypeDef, TypeRef};

/// A query as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
}

/// One field of a normalized operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The response key: the alias, or the field name.
    pub key: String,
    pub name: String,
    /// Coerced arguments, defaults included.
    pub args: Map<String, Value>,
    /// The sub-selection, fragments expanded and merged; empty for leaves.
    pub fields: Vec<Selected>,
    pub location: Location,
}

/// [`normalize`] for a document alone, without variables, an operation name
/// or a budget: the gateway's own sub-queries, and tests.
pub fn normalize_query(
    schema: &Schema,
    query: impl Into<String>,
) -> Result<Vec<Selected>, Vec<GqlError>> {
    normalize(
        schema,
        &Request {
            query: query.into(),
            ..Request::default()
        },
        &Budget::UNLIMITED,
    )
}

/// Parses and validates `req` against `schema`. Every problem found is
/// returned, each as gqlgen would report it. Before anything is parsed the
/// text's nesting is bounded, and before anything is expanded the
/// operation's expanded size is counted against `budget`: past either, the
/// one error says which bound.
pub fn normalize(
    schema: &Schema,
    req: &Request,
    budget: &Budget,
) -> Result<Vec<Selected>, Vec<GqlError>> {
    cost::check_nesting(&req.query)?;
    let doc =
        q::parse_query::<String>(&req.query).map_err(|e| vec![parse_error(&e.to_string())])?;
    let mut fragments = HashMap::new();
    let mut operations = Vec::new();
    for def in &doc.definitions {
        match def {
            Definition::Fragment(f) => {
                if fragments.insert(f.name.as_str(), f).is_some() {
                    return Err(vec![GqlError::validation(
                        format!("There can be only one fragment named \"{}\".", f.name),
                        f.position,
                    )]);
                }
            }
            Definition::Operation(op) => operations.push(op),
        }
    }
    let op = pick_operation(&operations, req.operation_name.as_deref())?;
    let (selection, var_defs) = match op {
        OperationDefinition::SelectionSet(set) => (set, &[][..]),
        OperationDefinition::Query(query) => {
            (&query.selection_set, &query.variable_definitions[..])
        }
        OperationDefinition::Mutation(m) => {
            return Err(vec![GqlError::validation(
                "Schema does not support operation type \"mutation\"",
                m.position,
            )])
        }
        OperationDefinition::Subscription(s) => {
            return Err(vec![GqlError::validation(
                "Schema does not support operation type \"subscription\"",
                s.position,
            )])
        }
    };
    cost::check_size(selection, &fragments, var_defs, &req.variables, budget)?;
    let mut walker = Walker {
        schema,
        fragments,
        variables: Map::new(),
        invalid_variables: HashSet::new(),
        used_variables: HashSet::new(),
        used_fragments: HashSet::new(),
        errors: Vec::new(),
    };
    walker.coerce_variables(var_defs, &req.variables);
    let fields = walker.selection(schema.query_type(), selection, 0);
    walker.check_unused(var_defs);
    if walker.errors.is_empty() {
        Ok(fields)
    } else {
        Err(walker.errors)
    }
}

fn parse_error(text: &str) -> GqlError {
    // graphql-parser says "query parse error: Parse error at 1:5\n…".
    let location = text.split("at ").nth(1).and_then(|rest| {
        let pos = rest.split_whitespace().next()?;
        let (line, column) = pos.split_once(':')?;
        Some(Location {
            line: line.parse().ok()?,
            column: column.parse().ok()?,
        })
    });
    let message = text.lines().skip(1).collect::<Vec<_>>().join(" ");
    let message = if message.trim().is_empty() {
        text.to_owned()
    } else {
        message.trim().to_owned()
    };
    let mut err = GqlError::new(message).code(PARSE_FAILED);
    if let Some(location) = location {
        err = err.at(location);
    }
    err
}

fn pick_operation<'d>(
    operations: &[&'d OperationDefinition<'d, String>],
    name: Option<&str>,
) -> Result<&'d OperationDefinition<'d, String>, Vec<GqlError>> {
    let name_of = |op: &OperationDefinition<'d, String>| match op {
        OperationDefinition::Query(q) => q.name.clone(),
        OperationDefinition::Mutation(m) => m.name.clone(),
        OperationDefinition::Subscription(s) => s.name.clone(),
        OperationDefinition::SelectionSet(_) => None,
    };
    let invalid = |msg: String| vec![GqlError::new(msg).code(VALIDATION_FAILED)];
    match name.filter(|n| !n.is_empty()) {
        Some(name) => operations
            .iter()
            .find(|op| name_of(op).as_deref() == Some(name))
            .copied()
            .ok_or_else(|| invalid(format!("operation {name} not found"))),
        None => match operations {
            [op] => Ok(op),
            [] => Err(invalid("no operation provided".into())),
            _ => Err(invalid(
                "operation name is required when the document has several operations".into(),
            )),
        },
    }
}

/// Walks one operation, collecting errors instead of stopping at the first.
struct Walker<'s, 'd> {
    schema: &'s Schema,
    fragments: HashMap<&'d str, &'d FragmentDefinition<'d, String>>,
    variables: Map<String, Value>,
    /// Variables whose value did not coerce (already reported).
    invalid_variables: HashSet<String>,
    used_variables: HashSet<String>,
    used_fragments: HashSet<String>,
    errors: Vec<GqlError>,
}

impl<'s, 'd> Walker<'s, 'd> {
    fn coerce_variables(
        &mut self,
        defs: &'d [q::VariableDefinition<'d, String>],
        given: &Map<String, Value>,
    ) {
        for def in defs {
            let ty = type_ref(&def.var_type);
            if !self.is_input_type(ty.base()) {
                self.errors.push(GqlError::validation(
                    format!(
                        "Variable \"${}\" cannot be non-input type \"{ty}\".",
                        def.name
                    ),
                    def.position,
                ));
                continue;
            }
            let value = match (given.get(&def.name), &def.default_value) {
                (Some(value), _) => coerce_json(self.schema, &ty, value),
                (None, Some(default)) => self.coerce_literal(&ty, default),
                (None, None) if ty.is_non_null() => Err("must be defined".to_owned()),
                (None, None) => continue,
            };
            match value {
                Ok(value) => {
                    self.variables.insert(def.name.clone(), value);
                }
                Err(reason) => {
                    self.invalid_variables.insert(def.name.clone());
                    self.errors.push(
                        GqlError::new(format!("input: variable.{} {reason}", def.name))
                            .at(def.position)
                            .code(VALIDATION_FAILED),
                    )
                }
            }
        }
    }

    fn check_unused(&mut self, defs: &[q::VariableDefinition<'d, String>]) {
        for def in defs {
            if !self.used_variables.contains(&def.name) {
                self.errors.push(GqlError::validation(
                    format!("Variable \"${}\" is never used.", def.name),
                    def.position,
                ));
            }
        }
        let mut unused: Vec<_> = self
            .fragments
            .values()
            .filter(|f| !self.used_fragments.contains(&f.name))
            .collect();
        unused.sort_by_key(|f| (f.position.line, f.position.column));
        for f in unused {
            self.errors.push(GqlError::validation(
                format!("Fragment \"{}\" is never used.", f.name),
                f.position,
            ));
        }
    }

    fn is_input_type(&self, name: &str) -> bool {
        self.schema
            .get(name)
            .is_some_and(|t| matches!(t.kind, Kind::Scalar | Kind::Enum | Kind::InputObject))
    }

    /// The fields of `set` on `parent`, fragments expanded, merged by key.
    fn selection(
        &mut self,
        parent: &'s TypeDef,
        set: &'d SelectionSet<'d, String>,
        depth: usize,
    ) -> Vec<Selected> {
        let mut out: Vec<Selected> = Vec::new();
        if depth > MAX_DEPTH {
            self.errors.push(cost::too_deep(set.span.0));
            return out;
        }
        for item in &set.items {
            match item {
                Selection::Field(field) => {
                    if !self.included(&field.directives) {
                        continue;
                    }
                    if let Some(selected) = self.field(parent, field, depth) {
                        self.merge(&mut out, selected);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.directives) {
                        continue;
                    }
                    let name = spread.fragment_name.as_str();
                    let Some(fragment) = self.fragments.get(name).copied() else {
                        self.errors.push(GqlError::validation(
                            format!("Unknown fragment \"{name}\"."),
                            spread.position,
                        ));
                        continue;
                    };
                    // Cycles were refused when the document's size was counted.
                    self.used_fragments.insert(name.to_owned());
                    let q::TypeCondition::On(on) = &fragment.type_condition;
                    if !self.condition_fits(parent, on, name, spread.position) {
                        continue;
                    }
                    for selected in self.selection(parent, &fragment.selection_set, depth + 1) {
                        self.merge(&mut out, selected);
                    }
                }
                Selection::InlineFragment(inline) => {
                    if !self.included(&inline.directives) {
                        continue;
                    }
                    if let Some(q::TypeCondition::On(on)) = &inline.type_condition {
                        if !self.condition_fits(parent, on, "", inline.position) {
                            continue;
                        }
                    }
                    for selected in self.selection(parent, &inline.selection_set, depth + 1) {
                        self.merge(&mut out, selected);
                    }
                }
            }
        }
        out
    }

    /// The schema has no interfaces or unions, so a fragment applies only on its own type.
    fn condition_fits(&mut self, parent: &TypeDef, on: &str, fragment: &str, at: Pos) -> bool {
        if self.schema.get(on).is_none() {
            self.errors
                .push(GqlError::validation(format!("Unknown type \"{on}\"."), at));
            return false;
        }
        if on == parent.name {
            return true;
        }
        let what = if fragment.is_empty() {
            "Fragment".to_owned()
        } else {
            format!("Fragment \"{fragment}\"")
        };
        self.errors.push(GqlError::validation(
            format!("{what} cannot be spread here as objects of type \"{}\" can never be of type \"{on}\".", parent.name),
            at,
        ));
        false
    }

    fn field(
        &mut self,
        parent: &'s TypeDef,
        field: &'d q::Field<'d, String>,
        depth: usize,
    ) -> Option<Selected> {
        let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
        let location = Location::from(field.position);
        if field.name == "__typename" {
            return Some(Selected {
                key,
                name: field.name.clone(),
                args: Map::new(),
                fields: Vec::new(),
                location,
            });
        }
        let def = match (
            parent.field(&field.name),
            parent.name == self.schema.query_type().name,
        ) {
            (Some(def), _) => def.clone(),
            (None, true) if field.name == "__schema" || field.name == "__type" => {
                introspection_root(&field.name)
            }
            _ => {
                self.errors.push(GqlError::validation(
                    format!(
                        "Cannot query field \"{}\" on type \"{}\".",
                        field.name, parent.name
                    ),
                    field.position,
                ));
                return None;
            }
        };
        let args = self.arguments(parent, &def, field);
        let base = self.schema.get(def.ty.base())?;
        let fields = match (base.kind, field.selection_set.items.is_empty()) {
            (Kind::Object, true) => {
                self.errors.push(GqlError::validation(
                    format!(
                        "Field \"{}\" of type \"{}\" must have a selection of subfields. Did you mean \"{} {{ ... }}\"?",
                        field.name, def.ty, field.name
                    ),
                    field.position,
                ));
                Vec::new()
            }
            (Kind::Object, false) => self.selection(base, &field.selection_set, depth + 1),
            (_, false) => {
                self.errors.push(GqlError::validation(
                    format!("Field \"{}\" must not have a selection since type \"{}\" has no subfields.", field.name, def.ty),
                    field.position,
                ));
                Vec::new()
            }
            (_, true) => Vec::new(),
        };
        Some(Selected {
            key,
            name: field.name.clone(),
            args,
            fields,
            location,
        })
    }

    fn arguments(
        &mut self,
        parent: &TypeDef,
        def: &super::schema::Field,
        field: &'d q::Field<'d, String>,
    ) -> Map<String, Value> {
        let mut args = Map::new();
        for (name, value) in &field.arguments {
            let Some(arg) = def.args.iter().find(|a| &a.name == name) else {
                self.errors.push(GqlError::validation(
                    format!(
                        "Unknown argument \"{name}\" on field \"{}.{}\".",
                        parent.name, def.name
                    ),
                    field.position,
                ));
                continue;
            };
            match self.coerce_literal(&arg.ty, value) {
                Ok(value) => {
                    args.insert(name.clone(), value);
                }
                Err(reason) => self.errors.push(GqlError::validation(
                    format!(
                        "Argument \"{name}\" on field \"{}.{}\" {reason}",
                        parent.name, def.name
                    ),
                    field.position,
                )),
            }
        }
        for arg in &def.args {
            if args.contains_key(&arg.name) || field.arguments.iter().any(|(n, _)| n == &arg.name) {
                continue;
            }
            match &arg.default {
                Some((default, _)) => {
                    args.insert(arg.name.clone(), default.clone());
                }
                None if arg.ty.is_non_null() => self.errors.push(GqlError::validation(
                    format!(
                        "Field \"{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                        def.name, arg.name, arg.ty
                    ),
                    field.position,
                )),
                None => {}
            }
        }
        args
    }

    /// `@skip(if:)` and `@include(if:)`.
    fn included(&mut self, directives: &'d [Directive<'d, String>]) -> bool {
        let mut keep = true;
        for d in directives {
            let want = match d.name.as_str() {
                "skip" => false,
                "include" => true,
                other => {
                    self.errors.push(GqlError::validation(
                        format!("Directive \"{other}\" is not defined."),
                        d.position,
                    ));
                    continue;
                }
            };
            let cond = d.arguments.iter().find(|(n, _)| n == "if").map(|(_, v)| v);
            let boolean = TypeRef::NonNull(Box::new(TypeRef::Named("Boolean".into())));
            match cond.map(|v| self.coerce_literal(&boolean, v)) {
                Some(Ok(Value::Bool(b))) => keep &= b == want,
                _ => self.errors.push(GqlError::validation(
                    format!("Directive \"@{}\" needs a Boolean argument \"if\".", d.name),
                    d.position,
                )),
            }
        }
        keep
    }

    /// Merges a field into `out` by response key: same key, same field and
    /// arguments, or the document is invalid.
    fn merge(&mut self, out: &mut Vec<Selected>, selected: Selected) {
        match out.iter_mut().find(|s| s.key == selected.key) {
            None => out.push(selected),
            Some(existing) => {
                if existing.name != selected.name || existing.args != selected.args {
                    self.errors.push(GqlError::validation(
                        format!(
                            "Fields \"{}\" conflict because they have differing names or arguments. Use different aliases on the fields to fetch both if this was intentional.",
                            selected.key
                        ),
                        selected.location,
                    ));
                    return;
                }
                for sub in selected.fields {
                    self.merge(&mut existing.fields, sub);
                }
            }
        }
    }

    /// Coerces a literal (which may hold variables) to `ty`.
    fn coerce_literal(
        &mut self,
        ty: &TypeRef,
        value: &q::Value<'d, String>,
    ) -> Result<Value, String> {
        if let q::Value::Variable(name) = value {
            self.used_variables.insert(name.clone());
            let Some(var) = self.variables.get(name).cloned() else {
                if self.invalid_variables.contains(name) {
                    return Err("has an invalid variable".into());
                }
                return match ty {
                    TypeRef::NonNull(_) => Err(format!(
                        "needs variable \"${name}\", which is not defined or has no value."
                    )),
                    _ => Ok(Value::Null),
                };
            };
            return coerce_json(self.schema, ty, &var)
                .map_err(|r| format!("got variable \"${name}\": {r}"));
        }
        match ty {
            TypeRef::NonNull(inner) => match value {
                q::Value::Null => Err(format!("has invalid value null: expected type \"{ty}\".")),
                _ => self.coerce_literal(inner, value),
            },
            TypeRef::List(inner) => match value {
                q::Value::Null => Ok(Value::Null),
                q::Value::List(items) => items
                    .iter()
                    .map(|v| self.coerce_literal(inner, v))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                // Input coercion: a single value stands for a list of one.
                single => Ok(Value::Array(vec![self.coerce_literal(inner, single)?])),
            },
            TypeRef::Named(name) => {
                let def = self
                    .schema
                    .get(name)
                    .ok_or_else(|| format!("has unknown type \"{name}\"."))?;
                match (def.kind, value) {
                    (_, q::Value::Null) => Ok(Value::Null),
                    (Kind::InputObject, q::Value::Object(fields)) => {
                        let mut out = Map::new();
                        for (k, v) in fields {
                            let Some(field) = def.input_fields.iter().find(|f| &f.name == k) else {
                                return Err(format!("has invalid value: field \"{k}\" is not defined by type \"{name}\"."));
                            };
                            out.insert(k.clone(), self.coerce_literal(&field.ty, v)?);
                        }
                        complete_input_object(def, out)
                    }
                    (Kind::Enum, q::Value::Enum(v)) if def.enum_values.contains(v) => Ok(Value::String(v.clone())),
                    (Kind::Enum, other) => Err(format!("has invalid value {other}: Value \"{other}\" does not exist in \"{name}\" enum.")),
                    (Kind::Scalar, literal) => scalar(name, &literal_json(literal)?).map_err(|e| format!("has invalid value {literal}: {e}")),
                    (_, other) => Err(format!("has invalid value {other}: expected type \"{name}\".")),
                }
            }
        }
    }
}

/// A literal without variables as JSON, for scalar checks.
fn literal_json(value: &q::Value<'_, String>) -> Result<Value, String> {
    Ok(match value {
        q::Value::Int(n) => n.as_i64().map(Value::from).ok_or("integer out of range")?,
        q::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or("invalid float")?,
        q::Value::String(s) => Value::String(s.clone()),
        q::Value::Boolean(b) => Value::Bool(*b),
        q::Value::Null => Value::Null,
        q::Value::Enum(e) => return Err(format!("enum value {e} where a scalar is expected")),
        q::Value::List(_) | q::Value::Object(_) | q::Value::Variable(_) => {
            return Err("expected a scalar".into())
        }
    })
}

/// Coerces a JSON value (a variable) to `ty`.
pub(crate) fn coerce_json(schema: &Schema, ty: &TypeRef, value: &Value) -> Result<Value, String> {
    match ty {
        TypeRef::NonNull(inner) if value.is_null() => {
            Err(format!("cannot be null: expected type \"{inner}!\""))
        }
        TypeRef::NonNull(inner) => coerce_json(schema, inner, value),
        TypeRef::List(_) if value.is_null() => Ok(Value::Null),
        TypeRef::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .map(|v| coerce_json(schema, inner, v))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            single => Ok(Value::Array(vec![coerce_json(schema, inner, single)?])),
        },
        TypeRef::Named(_) if value.is_null() => Ok(Value::Null),
        TypeRef::Named(name) => {
            let def = schema
                .get(name)
                .ok_or_else(|| format!("unknown type \"{name}\""))?;
            match def.kind {
                Kind::Scalar => scalar(name, value),
                Kind::Enum => match value {
                    Value::String(s) if def.enum_values.contains(s) => Ok(value.clone()),
                    other => Err(format!("{other} is not a valid {name}")),
                },
                Kind::InputObject => {
                    let Value::Object(fields) = value else {
                        return Err(format!("cannot use {value} as {name}"));
                    };
                    let mut out = Map::new();
                    for (k, v) in fields {
                        let field = def
                            .input_fields
                            .iter()
                            .find(|f| &f.name == k)
                            .ok_or_else(|| format!("unknown field \"{k}\" in {name}"))?;
                        out.insert(k.clone(), coerce_json(schema, &field.ty, v)?);
                    }
                    complete_input_object(def, out)
                }
                Kind::Object => Err(format!("\"{name}\" is not an input type")),
            }
        }
    }
}

/// Applies defaults and checks required fields of an input object.
fn complete_input_object(def: &TypeDef, mut out: Map<String, Value>) -> Result<Value, String> {
    for field in &def.input_fields {
        if out.contains_key(&field.name) {
            continue;
        }
        match &field.default {
            Some((default, _)) => {
                out.insert(field.name.clone(), default.clone());
            }
            None if field.ty.is_non_null() => {
                return Err(format!(
                    "has invalid value: field \"{}\" of type \"{}\" is required.",
                    field.name, field.ty
                ))
            }
            None => {}
        }
    }
    Ok(Value::Object(out))
}

/// The built-in scalars' input coercion; custom scalars (`Time`) take strings.
fn scalar(name: &str, value: &Value) -> Result<Value, String> {
    let ok = match name {
        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => value.is_number(),
        "Boolean" => value.is_boolean(),
        "ID" => value.is_string() || value.as_i64().is_some(),
        _ => value.is_string(),
    };
    if !ok {
        return Err(format!("cannot use {value} as {name}"));
    }
    Ok(match (name, value) {
        ("ID", Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    })
}

fn type_ref(ty: &q::Type<'_, String>) -> TypeRef {
    match ty {
        q::Type::NamedType(n) => TypeRef::Named(n.clone()),
        q::Type::ListType(inner) => TypeRef::List(Box::new(type_ref(inner))),
        q::Type::NonNullType(inner) => TypeRef::NonNull(Box::new(type_ref(inner))),
    }
}

/// `__schema: __Schema!` and `__type(name: String!): __Type` on the query type.
fn introspection_root(name: &str) -> super::schema::Field {
    let named = |n: &str| TypeRef::Named(n.into());
    let non_null = |t| TypeRef::NonNull(Box::new(t));
    let (ty, args) = match name {
        "__schema" => (non_null(named("__Schema")), Vec::new()),
        _ => (
            named("__Type"),
            vec![super::schema::InputValue {
                name: "name".into(),
                description: None,
                ty: non_null(named("String")),
                default: None,
            }],
        ),
    };
    super::schema::Field {
        name: name.into(),
        description: None,
        args,
        ty,
    }
}

#[cfg(test)]
pub(super) mod tests;
