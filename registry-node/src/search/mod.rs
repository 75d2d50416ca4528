//! zot's search extension: the rules its answers follow, shared with the gateway's merge.
//!
//! # Layout
//! - [`paging`]: `requestedPage`, the page cut, the sort comparators, `RankRepoName`.

pub mod paging;
