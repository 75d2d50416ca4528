//! Limits on a search document, checked after validation and before any member is contacted: root fields and nesting depth.
//!
//! Each root field may become a request to every member, so a document of
//! many aliased fields multiplies load on the whole fleet; a deep one costs
//! merge work. zui and zli send one root field a few levels deep. The total
//! size (`limits.searchFields`) is checked earlier, before fragments are
//! expanded, by the normalizer's budget.

use flotilla_protocol::graphql::error::{GqlError, VALIDATION_FAILED};
use flotilla_protocol::graphql::normalize::Selected;

use crate::config::Limits;

/// The first limit `fields` exceed, as the error the client gets.
pub(crate) fn violation(fields: &[Selected], limits: &Limits) -> Option<GqlError> {
    let refuse = |what: String| Some(GqlError::new(what).code(VALIDATION_FAILED));
    if fields.len() > limits.search_root_fields {
        return refuse(format!(
            "the document has {} root fields; at most {} are allowed (limits.searchRootFields)",
            fields.len(),
            limits.search_root_fields
        ));
    }
    let depth = fields.iter().map(depth).max().unwrap_or(0);
    if depth > limits.search_depth {
        return refuse(format!(
            "the document nests {depth} levels; at most {} are allowed (limits.searchDepth)",
            limits.search_depth
        ));
    }
    None
}

fn depth(field: &Selected) -> usize {
    1 + field.fields.iter().map(depth).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use flotilla_protocol::graphql::normalize::normalize_query;
    use flotilla_protocol::graphql::schema::SEARCH;

    use super::*;

    fn fields(query: &str) -> Vec<Selected> {
        normalize_query(&SEARCH, query).unwrap()
    }

    const ZUI_HOME: &str = r#"{GlobalSearch(query:"", requestedPage: {limit:3 offset:0 sortBy: DOWNLOADS} ) {Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}}"#;

    #[test]
    fn real_client_queries_pass_the_defaults() {
        assert!(violation(&fields(ZUI_HOME), &Limits::default()).is_none());
        let introspection = "{__schema{types{name fields{name args{name type{kind name ofType{kind name ofType{kind name ofType{kind name}}}}}}}}}";
        assert!(violation(&fields(introspection), &Limits::default()).is_none());
    }

    #[test]
    fn alias_bombs_and_deep_documents_are_refused_naming_the_limit() {
        let bomb: String = (0..40)
            .map(|i| format!("a{i}: RepoListWithNewestImage {{ Page {{ ItemCount }} }} "))
            .collect();
        let err = violation(&fields(&format!("{{{bomb}}}")), &Limits::default()).unwrap();
        assert!(
            err.message.contains("limits.searchRootFields"),
            "{}",
            err.message
        );
        let tight = Limits {
            search_depth: 3,
            ..Limits::default()
        };
        let err = violation(&fields(ZUI_HOME), &tight).unwrap();
        assert!(
            err.message.contains("limits.searchDepth"),
            "{}",
            err.message
        );
    }
}
