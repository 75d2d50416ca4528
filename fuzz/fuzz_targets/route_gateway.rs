//! The gateway's classification of any request head hyper accepts: names of the grammar, and no route that reaches a member without an origin-form path.

#![no_main]

use flotilla_gateway::route::{classify, Route, HOP_HEADER};
use flotilla_protocol::name;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, target)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(first & 0x0f) % METHODS.len()];
    let mut builder = http::Request::builder().method(method).uri(target);
    if first & 0x80 != 0 {
        builder = builder.header(HOP_HEADER, "1");
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let route = classify(&parts);
    assert!(!route.class().is_empty());
    let path = parts.uri.path();
    match &route {
        Route::Repository { name, .. } => {
            assert!(name::is_valid(name), "{target:?} routed with name {name:?}");
            let node = flotilla_protocol::route::classify(path);
            assert_eq!(node.repository(), Some(name.as_str()), "{target:?}");
        }
        Route::Mount { name, from, .. } => {
            assert!(name::is_valid(name), "{target:?} mounts into {name:?}");
            assert_ne!(name, from, "{target:?}: a mount within one repository");
        }
        Route::InvalidName { name } => assert!(!name::is_valid(name), "{target:?}"),
        _ => {}
    }
    // Whatever goes to a member is built from the request's path.
    let forwarded = matches!(
        route,
        Route::Repository { .. }
            | Route::Mount { .. }
            | Route::Catalog
            | Route::Search
            | Route::UserPrefs { .. }
            | Route::AnyMember { .. }
    );
    if forwarded {
        assert!(
            path.starts_with('/'),
            "{method} {:?} reaches a member with path {path:?} ({route:?})",
            String::from_utf8_lossy(target)
        );
    }
});
