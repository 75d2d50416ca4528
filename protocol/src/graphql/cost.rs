//! What a document costs before anything is expanded: bracket nesting on the raw text, and the size of its operation with every fragment spread weighed.
//!
//! Expanding fragments is where a small document becomes large work: a
//! chain of fragments each spreading the next twice doubles per link, so a
//! kilobyte asks for millions of fields. The size here is counted on the
//! parsed document, each fragment counted once and reused wherever it is
//! spread, so the count is linear in the document whatever it expands to.

use std::collections::HashMap;

use graphql_parser::query::{self as q, Directive, FragmentDefinition, Selection, SelectionSet};
use serde_json::{Map, Value};

use super::error::{GqlError, Location, VALIDATION_FAILED};

/// How deeply brackets, braces and parentheses may nest in the raw text.
/// The parser recurses once per level; graphql-parser stops at 50 itself,
/// but that is a dependency's default, so the bound is checked here first,
/// on the text, and refused with a message that names it.
pub const MAX_NESTING: usize = 50;

/// How deep a selection may nest, fragments and inline fragments counting a
/// level each; far beyond what real clients send (an introspection query
/// nests about ten deep), and what keeps the recursion of counting and
/// expanding shallow.
pub(crate) const MAX_DEPTH: usize = 64;

/// A string argument counts one more for each this many bytes: expanding
/// copies it once per place it is spread to.
const STRING_UNIT: usize = 1024;

/// The most an operation may select once its fragments are expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Fields and argument values (a string counting one more per KiB).
    pub fields: usize,
    /// The configuration key setting `fields`, named when a document is refused.
    pub key: &'static str,
}

impl Budget {
    /// For documents the caller wrote itself from an already bounded one.
    pub const UNLIMITED: Budget = Budget {
        fields: usize::MAX,
        key: "",
    };
}

/// Refuses `text` if its brackets nest deeper than [`MAX_NESTING`], without
/// parsing it: strings, block strings and comments are skipped exactly as
/// graphql-parser's tokenizer skips them, so no bracket the parser would
/// recurse on goes uncounted.
pub(crate) fn check_nesting(text: &str) -> Result<(), Vec<GqlError>> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(vec![GqlError::new(format!(
                        "the document nests brackets deeper than {MAX_NESTING} levels"
                    ))
                    .at(location(text, i))
                    .code(VALIDATION_FAILED)]);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = block_string_end(text, i),
            b'"' => {
                i += 1;
                let mut escaped = false;
                while i < bytes.len() && (escaped || bytes[i] != b'"') && bytes[i] != b'\n' {
                    escaped = !escaped && bytes[i] == b'\\';
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Where the block string opening at `start` ends (its last quote), or the
/// end of the text: the first `"""` not preceded by a backslash, the
/// tokenizer's rule.
fn block_string_end(text: &str, start: usize) -> usize {
    let tail = &text[start + 3..];
    tail.match_indices("\"\"\"")
        .find(|(at, _)| !tail[..*at].ends_with('\\'))
        .map_or(text.len(), |(at, _)| start + 3 + at + 2)
}

/// The line and column of byte `offset`, counted only when refusing.
fn location(text: &str, offset: usize) -> Location {
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    Location {
        line,
        column: offset - start + 1,
    }
}

/// The error for a selection nested past [`MAX_DEPTH`], met while counting
/// or, for a fragment counted at a shallower place, while expanding.
pub(crate) fn too_deep(at: graphql_parser::Pos) -> GqlError {
    GqlError::validation("the query is nested too deeply", at)
}

/// Counts `set` (an operation's selection) with every fragment expanded and
/// refuses it over `budget`, cyclic fragments and nesting past
/// [`MAX_DEPTH`] before anything is expanded. `variables` weigh each
/// variable as the value it stands for.
pub(crate) fn check_size<'d>(
    set: &'d SelectionSet<'d, String>,
    fragments: &HashMap<&'d str, &'d FragmentDefinition<'d, String>>,
    variables: &'d [q::VariableDefinition<'d, String>],
    given: &Map<String, Value>,
    budget: &Budget,
) -> Result<usize, Vec<GqlError>> {
    let mut counter = Counter {
        fragments,
        variables: variables
            .iter()
            .map(|def| {
                let weight = match (given.get(&def.name), &def.default_value) {
                    (Some(value), _) => json_weight(value),
                    (None, Some(default)) => Counter::literal_weight(&HashMap::new(), default),
                    (None, None) => 1,
                };
                (def.name.as_str(), weight)
            })
            .collect(),
        sizes: HashMap::new(),
    };
    let size = counter.set(set, 0)?;
    if size > budget.fields {
        let count = match size {
            usize::MAX => format!("more than {}", usize::MAX - 1),
            n => n.to_string(),
        };
        return Err(vec![GqlError::new(format!(
            "the document selects {count} fields and argument values with its fragments expanded; at most {} are allowed ({})",
            budget.fields, budget.key
        ))
        .at(set.span.0)
        .code(VALIDATION_FAILED)]);
    }
    Ok(size)
}

struct Counter<'a, 'd> {
    fragments: &'a HashMap<&'d str, &'d FragmentDefinition<'d, String>>,
    variables: HashMap<&'d str, usize>,
    /// Each fragment's expanded size once counted; `None` while it is being
    /// counted, so meeting it again is a cycle.
    sizes: HashMap<&'d str, Option<usize>>,
}

impl<'d> Counter<'_, 'd> {
    /// The expanded size of `set` at `depth` levels (the depth the expansion
    /// would reach it at, as the normalizer counts levels).
    fn set(
        &mut self,
        set: &'d SelectionSet<'d, String>,
        depth: usize,
    ) -> Result<usize, Vec<GqlError>> {
        if depth > MAX_DEPTH {
            return Err(vec![too_deep(set.span.0)]);
        }
        let mut total = 0usize;
        for item in &set.items {
            let size = match item {
                Selection::Field(field) => {
                    let sub = if field.selection_set.items.is_empty() {
                        0
                    } else {
                        self.set(&field.selection_set, depth + 1)?
                    };
                    sum(field.arguments.iter().map(|(_, v)| self.value(v)))
                        .saturating_add(self.directives(&field.directives))
                        .saturating_add(sub)
                        .saturating_add(1)
                }
                Selection::FragmentSpread(spread) => self
                    .fragment(&spread.fragment_name, spread.position, depth + 1)?
                    .saturating_add(self.directives(&spread.directives)),
                Selection::InlineFragment(inline) => self
                    .set(&inline.selection_set, depth + 1)?
                    .saturating_add(self.directives(&inline.directives)),
            };
            total = total.saturating_add(size);
        }
        Ok(total)
    }

    /// A fragment's expanded size, counted the first time it is spread. An
    /// unknown fragment counts nothing: the normalizer reports it.
    fn fragment(
        &mut self,
        name: &'d str,
        at: graphql_parser::Pos,
        depth: usize,
    ) -> Result<usize, Vec<GqlError>> {
        match self.sizes.get(name) {
            Some(Some(size)) => return Ok(*size),
            Some(None) => {
                return Err(vec![GqlError::validation(
                    format!("Cannot spread fragment \"{name}\" within itself."),
                    at,
                )])
            }
            None => {}
        }
        let Some(fragment) = self.fragments.get(name).copied() else {
            return Ok(0);
        };
        self.sizes.insert(name, None);
        let size = self.set(&fragment.selection_set, depth)?;
        self.sizes.insert(name, Some(size));
        Ok(size)
    }

    fn directives(&self, directives: &'d [Directive<'d, String>]) -> usize {
        sum(directives
            .iter()
            .flat_map(|d| d.arguments.iter().map(|(_, v)| self.value(v))))
    }

    fn value(&self, value: &q::Value<'d, String>) -> usize {
        Self::literal_weight(&self.variables, value)
    }

    /// A literal's weight: one per value, a string one more per
    /// [`STRING_UNIT`] bytes, a variable what its value weighs.
    fn literal_weight(variables: &HashMap<&'d str, usize>, value: &q::Value<'_, String>) -> usize {
        match value {
            q::Value::String(s) => 1 + s.len() / STRING_UNIT,
            q::Value::Variable(name) => variables.get(name.as_str()).copied().unwrap_or(1),
            q::Value::List(items) => {
                sum(items.iter().map(|v| Self::literal_weight(variables, v))).saturating_add(1)
            }
            q::Value::Object(fields) => {
                sum(fields.values().map(|v| Self::literal_weight(variables, v))).saturating_add(1)
            }
            _ => 1,
        }
    }
}

/// A variable's value weighed as the same literal would be.
fn json_weight(value: &Value) -> usize {
    match value {
        Value::String(s) => 1 + s.len() / STRING_UNIT,
        Value::Array(items) => sum(items.iter().map(json_weight)).saturating_add(1),
        Value::Object(fields) => sum(fields.values().map(json_weight)).saturating_add(1),
        _ => 1,
    }
}

fn sum(sizes: impl Iterator<Item = usize>) -> usize {
    sizes.fold(0, usize::saturating_add)
}

#[cfg(test)]
mod tests;
