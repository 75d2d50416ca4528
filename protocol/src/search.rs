//! zot's rules for search results that a merged answer must follow as one node does.

pub mod paging;
