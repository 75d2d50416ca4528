//! zot's rules for search results that a merged answer must follow as one node does: paging and sorting, and which summary fields come from annotations.

pub mod paging;

/// The `ImageSummary` fields zot reads from annotations: an image's own,
/// then its config's labels; for an index, the index's own, then its first
/// manifest's (zot's `GetAnnotations`, `GetIndexAnnotations`).
pub const ANNOTATED_FIELDS: [&str; 8] = [
    "Description",
    "Title",
    "Documentation",
    "Licenses",
    "Labels",
    "Source",
    "Vendor",
    "Authors",
];
