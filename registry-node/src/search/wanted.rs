//! Which fields a request selects: summaries build only what some selection names, since the page's costly parts (manifests, history, the newest image) are most of a search's time.

use flotilla_protocol::graphql::normalize::Selected;

/// Every field name selected anywhere under a root field (`None`: all of
/// them). Names, not paths: a name selected in one place is built in every
/// place, which is more than needed and never less, as projection then
/// keeps only what each selection asks for. Held sorted: a summary asks
/// for each of its fields by name, for every item of a page, and a binary
/// search of a few dozen names costs less than hashing the name.
#[derive(Debug, Default)]
pub(crate) struct Wanted<'s>(Option<Vec<&'s str>>);

impl<'s> Wanted<'s> {
    /// Everything, for callers that project later onto an unknown selection.
    pub(crate) fn all() -> Self {
        Self(None)
    }

    pub(crate) fn of(field: &'s Selected) -> Self {
        fn walk<'s>(fields: &'s [Selected], names: &mut Vec<&'s str>) {
            for f in fields {
                names.push(f.name.as_str());
                walk(&f.fields, names);
            }
        }
        let mut names = Vec::new();
        walk(&field.fields, &mut names);
        names.sort_unstable();
        names.dedup();
        Self(Some(names))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|names| names.binary_search(&name).is_ok())
    }

    pub(crate) fn any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.has(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_protocol::graphql::error::Location;
    use serde_json::Map;

    fn sel(name: &str, fields: Vec<Selected>) -> Selected {
        Selected {
            key: format!("alias_{name}"),
            name: name.into(),
            args: Map::new(),
            fields,
            location: Location { line: 1, column: 1 },
        }
    }

    #[test]
    fn names_at_any_depth_count_aliases_do_not() {
        let root = sel(
            "RepoListWithNewestImage",
            vec![sel(
                "Results",
                vec![sel("NewestImage", vec![sel("Tag", vec![])])],
            )],
        );
        let wanted = Wanted::of(&root);
        assert!(wanted.has("Results") && wanted.has("NewestImage") && wanted.has("Tag"));
        assert!(!wanted.has("Manifests") && !wanted.has("alias_Tag"));
        assert!(!wanted.has("RepoListWithNewestImage"));
        assert!(Wanted::all().has("Manifests"));
        assert!(wanted.any(&["Manifests", "Tag"]) && !wanted.any(&["History"]));
    }
}
