//! The gateway's planner on any document: each root field gets a strategy, and every document the gateway would send a member is one the members accept.

#![no_main]

use flotilla_fuzz::assert_conforms;
use flotilla_gateway::fuzzing::plan;
use flotilla_protocol::graphql::normalize::{normalize_query, Request};
use flotilla_protocol::graphql::schema::SEARCH;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let request = Request {
        query: query.to_owned(),
        ..Request::default()
    };
    let Ok(planned) = plan(&request) else {
        return;
    };
    for p in planned {
        if p.field.name.starts_with("__") {
            assert_eq!(p.strategy, "Local", "{:?}", p.field.name);
        }
        for sent in &p.member_queries {
            let fields = normalize_query(&SEARCH, sent.as_str()).unwrap_or_else(|e| {
                panic!(
                    "the gateway would send a member {sent:?}, refused with {e:?}\nfrom {query:?}"
                )
            });
            assert_eq!(fields.len(), 1, "{sent:?} has one root field");
            assert_eq!(fields[0].name, p.field.name, "{sent:?}");
            assert_conforms(&SEARCH, &fields);
        }
    }
});
