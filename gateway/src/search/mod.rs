//! The GraphQL engine for `/v2/_zot/ext/search`: answer for the whole fleet as one zot holding all the data would.
//!
//! # Layout
//! - [`engine`]: one request: read, plan, ask members, merge, stitch. Start here.
//! - [`ask`]: one root field asked of one member, and rounds of such asks.
//! - [`plan`]: the strategy table, one row per Query field.
//! - [`render`]: a planned field back to GraphQL text for a member.
//! - [`limits`]: depth and root-field limits, before any member is asked (the size budget is the normalizer's).
//! - [`layers`]: `DerivedImageList` / `BaseImageList` computed across members.
//! - [`cve_diff`]: `CVEDiffListForImages` computed across members.
//! - [`merge`]: the fan-out rewrite (top-k, reserved keys) and the merge by schema path.
//! - `moving`: fan-outs in the migration window, each moving repository counted once.
//! - [`deep`]: pages past the first items: each member's share, then windows.
//! - [`shape`]: a member's answer checked against the schema before anything merges it.

pub(crate) mod ask;
pub(crate) mod cve_diff;
pub(crate) mod deep;
pub(crate) mod engine;
pub(crate) mod layers;
pub(crate) mod limits;
pub(crate) mod merge;
mod moving;
pub(crate) mod plan;
pub(crate) mod render;
pub(crate) mod shape;
