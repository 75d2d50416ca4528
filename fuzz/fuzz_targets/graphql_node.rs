//! The node's GraphQL front: any GET query string or POST body read as gqlgen reads it, then parsed, coerced and validated; what passes selects only fields of the schema, and every refusal is a JSON answer.

#![no_main]

use flotilla_fuzz::assert_conforms;
use flotilla_protocol::graphql::normalize::normalize;
use flotilla_protocol::graphql::schema::SEARCH;
use flotilla_protocol::graphql::{transport, Response};
use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;

fn assert_json(answer: &Response) {
    let body = answer.to_bytes();
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).expect("a refusal's body is JSON");
    assert!(parsed.get("data").is_some(), "gqlgen always writes `data`");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let read = if first & 1 == 0 {
        transport::read(&Method::POST, None, Some("application/json"), rest)
    } else {
        let Ok(query) = std::str::from_utf8(rest) else {
            return;
        };
        transport::read(&Method::GET, Some(query), None, &[])
    };
    let request = match read {
        Ok(request) => request,
        Err(refused) => return assert_json(&refused),
    };
    // The node's default budget, as `extensions.search.maxFields` leaves it.
    let budget = flotilla_node::config::ExtensionsConfig::default().search_budget();
    match normalize(&SEARCH, &request, &budget) {
        Ok(fields) => assert_conforms(&SEARCH, &fields),
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            assert_json(&Response::rejected(
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            ));
        }
    }
});
