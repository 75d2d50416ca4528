//! The gateway's merge of members' search answers: the client's document, then each member's `data[key]` as JSON, one part each. A merge gives the client's shape, as JSON, without the gateway's reserved keys, and no longer a list than the page asked for.

#![no_main]

use flotilla_fuzz::{assert_round_trips, keys_starting, parts};
use flotilla_gateway::fuzzing::merge;
use flotilla_protocol::graphql::normalize::{normalize_query, Selected};
use flotilla_protocol::graphql::schema::SEARCH;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const RESERVED: &str = "__flotilla_";

fn check(field: &Selected, merged: &Value, reserved_in_document: bool) {
    assert_round_trips(merged);
    let Some(object) = merged.as_object() else {
        panic!("a merge of {:?} is not an object: {merged}", field.key);
    };
    let keys: Vec<&String> = object.keys().collect();
    let mut asked: Vec<&String> = field.fields.iter().map(|f| &f.key).collect();
    asked.dedup();
    assert_eq!(keys, asked, "the merge is not the client's shape");
    if !reserved_in_document {
        let leaked = keys_starting(merged, RESERVED);
        assert!(
            leaked.is_empty(),
            "reserved keys reach the client: {leaked:?}"
        );
    }
    let limit = field
        .args
        .get("requestedPage")
        .and_then(|p| p.get("limit"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if limit > 0 {
        for list in field.fields.iter().filter(|f| f.name == "Results") {
            let len = object[&list.key].as_array().map_or(0, Vec::len);
            assert!(len as i64 <= limit, "{len} items for a page of {limit}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(parts) = parts(data) else {
        return;
    };
    let Some((document, answers)) = parts.split_first() else {
        return;
    };
    let Ok(fields) = normalize_query(&SEARCH, *document) else {
        return;
    };
    let answers: Vec<Value> = answers
        .iter()
        .filter_map(|a| serde_json::from_str(a).ok())
        .collect();
    let reserved_in_document = document.contains(RESERVED);
    for field in &fields {
        let Some(merged) = merge(field, answers.clone()) else {
            continue;
        };
        if let Ok(value) = &merged.whole {
            check(field, value, reserved_in_document);
        }
        if let Some(Ok(Some(value))) = &merged.windowed {
            check(field, value, reserved_in_document);
        }
        for sent in &merged.window_queries {
            if let Err(e) = normalize_query(&SEARCH, sent.as_str()) {
                panic!("a window query {sent:?} is refused: {e:?}");
            }
        }
    }
});
