//! The node's route table on any path: every repository route carries a name of the grammar and rebuilds its own path; a refused name is outside the grammar.

#![no_main]

use flotilla_protocol::name;
use flotilla_protocol::route::{classify, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let route = classify(path);
    if let Some(repo) = route.repository() {
        assert!(name::is_valid(repo), "{path:?} routed with name {repo:?}");
        assert!(path.starts_with("/v2/"), "{path:?} is a repository route");
    }
    let rebuilt = match &route {
        Route::Tags { name } => format!("/v2/{name}/tags/list"),
        Route::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
        Route::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
        Route::UploadStart { name } => format!("/v2/{name}/blobs/uploads/"),
        Route::Upload { name, session } => format!("/v2/{name}/blobs/uploads/{session}"),
        Route::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        Route::InvalidName { name } => {
            assert!(
                !name::is_valid(name),
                "{path:?} refused a valid name {name:?}"
            );
            return;
        }
        _ => return,
    };
    assert_eq!(rebuilt, path, "the route does not describe its path");
});
