//! The size count on real client queries and on documents built to expand exponentially or nest past the parser's recursion.

use serde_json::{json, Value};

use super::{check_nesting, Budget, MAX_NESTING};
use crate::graphql::normalize::tests::within as run;
use crate::graphql::normalize::Selected;

const ZUI_HOME: &str = r#"{GlobalSearch(query:"", requestedPage: {limit:3 offset:0 sortBy: DOWNLOADS} ) {Page {TotalCount ItemCount} Repos {Name LastUpdated Size Platforms { Os Arch } IsStarred IsBookmarked NewestImage { Tag Vulnerabilities {MaxSeverity Count} Description IsSigned SignatureInfo { Tool IsTrusted Author } Licenses Vendor Labels } StarCount DownloadCount}}}"#;

const BUDGET: Budget = Budget {
    fields: 5000,
    key: "limits.searchFields",
};

/// The size the budget sees: the budget one below it refuses the document,
/// naming the size.
fn size(query: &str, variables: Value) -> usize {
    let tight = Budget {
        fields: 0,
        ..BUDGET
    };
    let errors = run(query, variables, &tight).expect_err(query);
    let words: Vec<&str> = errors[0].split(' ').collect();
    assert_eq!(words[..3], ["the", "document", "selects"], "{errors:?}");
    words[3].parse().unwrap_or_else(|_| panic!("{errors:?}"))
}

fn fields(selected: &[Selected]) -> usize {
    selected.iter().map(|f| 1 + fields(&f.fields)).sum()
}

/// A chain of `levels` fragments on `RepoSummary`, each spreading the next
/// `width` times, the last selecting `Name`, spread under a repository list.
fn chain(levels: usize, width: usize) -> String {
    let mut doc = String::from("{ RepoListWithNewestImage { Results { ...F0 } } }");
    for i in 0..levels - 1 {
        let spreads = format!("...F{} ", i + 1).repeat(width);
        doc.push_str(&format!(" fragment F{i} on RepoSummary {{ {spreads}}}"));
    }
    doc.push_str(&format!(
        " fragment F{} on RepoSummary {{ Name }}",
        levels - 1
    ));
    doc
}

#[test]
fn a_zui_query_is_counted_exactly() {
    // 29 fields, and 5 argument values: "", and the page object with its 3.
    assert_eq!(size(ZUI_HOME, json!({})), 34);
    let normalized = run(ZUI_HOME, json!({}), &BUDGET).unwrap();
    assert_eq!(fields(&normalized), 29);
}

#[test]
fn introspection_queries_fit_the_default_budgets() {
    let standard = size(crate::graphql::tests::INTROSPECTION, json!({}));
    assert!(standard < 500, "{standard}");
    // BUDGET is the gateway's default, the lower of the two binaries' defaults.
    assert!(run(crate::graphql::tests::INTROSPECTION, json!({}), &BUDGET).is_ok());
}

/// Hole: a kilobyte of fragments each spreading the next twice expanded to
/// 2^23 fields, seconds of CPU, before any limit was checked.
#[test]
fn the_fragment_bomb_is_refused_with_its_exact_size() {
    let bomb = chain(24, 2);
    assert!(bomb.len() < 1500, "{}", bomb.len());
    let errors = run(&bomb, json!({}), &BUDGET).unwrap_err();
    assert_eq!(
        errors,
        [format!(
            "the document selects {} fields and argument values with its fragments expanded; at most 5000 are allowed (limits.searchFields)",
            2 + (1 << 23)
        )]
    );
}

#[test]
fn a_chain_passes_while_its_expansion_fits_and_is_refused_from_the_first_level_that_does_not() {
    // 2 + 2^(levels - 1): 4098 at 13 levels, 8194 at 14.
    let fits = run(&chain(13, 2), json!({}), &BUDGET).unwrap();
    assert_eq!(fields(&fits), 3, "the 4096 spreads merge into one Name");
    let errors = run(&chain(14, 2), json!({}), &BUDGET).unwrap_err();
    assert!(errors[0].contains("selects 8194 fields"), "{errors:?}");
}

#[test]
fn each_fragment_is_counted_once_so_any_expansion_saturates_in_linear_time() {
    // 5^30 spreads: counted one by one, this test would never end.
    let errors = run(&chain(30, 5), json!({}), &BUDGET).unwrap_err();
    assert!(
        errors[0].starts_with(&format!(
            "the document selects more than {} fields",
            usize::MAX - 1
        )),
        "{errors:?}"
    );
}

#[test]
fn long_fragment_chains_and_cycles_are_refused_without_deep_recursion() {
    // 2000 links of one spread each: a stack frame per link, counted naively.
    let long = chain(2000, 1);
    assert_eq!(
        run(&long, json!({}), &Budget::UNLIMITED).unwrap_err(),
        ["the query is nested too deeply"]
    );
    let cycle =
        "{ RepoListWithNewestImage { Results { ...a } } } fragment a on RepoSummary { Name ...a }";
    assert_eq!(
        run(cycle, json!({}), &Budget::UNLIMITED).unwrap_err(),
        ["Cannot spread fragment \"a\" within itself."]
    );
}

#[test]
fn argument_values_weigh_what_expanding_copies() {
    let query =
        "query($t: [String!]) { Referrers(repo: \"a\", digest: \"b\", type: $t) { MediaType } }";
    let types: Vec<Value> = (0..3000).map(|i| json!(format!("t{i}"))).collect();
    // The field, its selection, two strings, and the list with its items.
    assert_eq!(size(query, json!({ "t": types })), 2 + 2 + 3001);
    let long = "x".repeat(100 * 1024);
    let literal = format!("{{ Referrers(repo: \"{long}\", digest: \"b\") {{ MediaType }} }}");
    assert_eq!(size(&literal, json!({})), 2 + 101 + 1);
}

#[test]
fn nesting_is_bounded_on_the_text_before_parsing() {
    let bomb = format!("{{a{}", "{a".repeat(1 << 19));
    let err = check_nesting(&bomb).unwrap_err().remove(0);
    assert_eq!(
        err.message,
        format!("the document nests brackets deeper than {MAX_NESTING} levels")
    );
    assert_eq!(err.locations[0].column, 2 * MAX_NESTING + 1);
    for open in ["[", "(", "{a:"] {
        let bomb = format!("{{a(b:{}", open.repeat(1 << 18));
        assert!(check_nesting(&bomb).is_err(), "{open}");
    }
    // Exactly the bound: the parser takes it (and only validation fails).
    let list = |depth: usize| {
        format!(
            "{{ImageList(repo:\"a\", requestedPage:{{limit:{}1{}}}){{Page{{ItemCount}}}}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let at_bound = run(&list(MAX_NESTING - 3), json!({}), &BUDGET).unwrap_err();
    assert!(at_bound[0].contains("requestedPage"), "{at_bound:?}");
    let past = run(&list(MAX_NESTING - 2), json!({}), &BUDGET).unwrap_err();
    assert!(past[0].contains("nests brackets deeper"), "{past:?}");
}

#[test]
fn brackets_in_strings_block_strings_and_comments_do_not_nest() {
    let hidden = "{".repeat(2 * MAX_NESTING);
    for repo in [
        format!("\"{hidden}\\\"{hidden}\""),
        format!("\"\"\" \\\"\"\" {hidden} \"\"\""),
    ] {
        let query =
            format!("{{ ImageList(repo: {repo}) {{ Page {{ ItemCount }} }} }} # {hidden}\n");
        let fields = run(&query, json!({}), &BUDGET).unwrap_or_else(|e| panic!("{query}: {e:?}"));
        assert_eq!(fields.len(), 1);
    }
}
