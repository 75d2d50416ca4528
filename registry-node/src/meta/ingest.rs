//! What a pushed manifest is to the metadata (zot's `SetImageMetaFromInput` decision) and recording it, with the database rows it touched.

use std::sync::Arc;

use time::OffsetDateTime;

use super::db::Batch;
use super::image::{self, Image, RawManifest};
use super::repo::{Signature, Touched};
use super::signature::{self, Tool};
use super::{time as mtime, Pushed, State};

/// What a manifest is to the metadata.
#[derive(Debug)]
pub(crate) enum Ingest {
    Image(Image),
    Signature {
        tool: Tool,
        signed: String,
        signature: Signature,
        by_tag: bool,
    },
    Skip,
}

/// zot's `SetImageMetaFromInput` decision: signatures apart, manifests and
/// indexes recorded, anything else (and referrers tags) left out.
pub(crate) fn classify(
    reference: &str,
    pushed: Pushed<'_>,
    raw: RawManifest,
    config: Option<&[u8]>,
) -> Ingest {
    if signature::is_referrers_tag(reference) {
        return Ingest::Skip;
    }
    let size = pushed.body.len() as i64;
    if image::is_manifest_type(pushed.media_type) {
        if let Some((tool, signed)) =
            signature::detect(reference, raw.artifact_type(), raw.subject())
        {
            let layers = match tool {
                Tool::Cosign => raw.layer_count(),
                Tool::Notation if raw.body_is_index() => 0,
                // zot refuses a notation signature without exactly one layer.
                Tool::Notation if raw.layer_count() != 1 => return Ingest::Skip,
                Tool::Notation => 1,
            };
            return Ingest::Signature {
                tool,
                signed,
                signature: Signature {
                    digest: pushed.digest.to_owned(),
                    layers,
                },
                by_tag: signature::is_cosign_tag(reference),
            };
        }
        let manifest = raw.into_manifest(pushed.digest, size, config);
        return Ingest::Image(Image::Manifest(Arc::new(manifest)));
    }
    if image::is_index_type(pushed.media_type) {
        return Ingest::Image(Image::Index(Arc::new(raw.into_index(pushed.digest, size))));
    }
    Ingest::Skip
}

/// Records one ingested manifest under `reference`.
pub(super) fn apply(
    state: &mut State,
    repo: &str,
    reference: &str,
    ingest: Ingest,
    pushed_at: OffsetDateTime,
    user: &str,
    now: OffsetDateTime,
) -> Touched {
    let touched = match ingest {
        Ingest::Image(image) => state
            .repos
            .or_insert(repo)
            .set_reference(reference, image, pushed_at, user, now),
        Ingest::Signature {
            tool,
            signed,
            signature,
            by_tag,
        } => {
            state
                .repos
                .or_insert(repo)
                .add_signature(tool, &signed, signature, by_tag);
            Touched::default()
        }
        Ingest::Skip => Touched::default(),
    };
    state.reindex(repo);
    touched
}

/// Turns what a change touched into database rows.
pub(super) fn collect(state: &State, repo: &str, touched: &Touched, batch: &mut Batch) {
    let Some(r) = state.repos.get(repo) else {
        return;
    };
    for digest in &touched.stats {
        if let Some(stats) = r.stats.get(digest) {
            batch
                .stats
                .push((repo.to_owned(), digest.clone(), stats.clone()));
        }
    }
    for digest in &touched.stats_removed {
        batch.stats_removed.push((repo.to_owned(), digest.clone()));
    }
    for tag in &touched.tags {
        if let Some(at) = r.tags.get(tag).and_then(|t| t.tagged) {
            batch
                .tagged
                .push((repo.to_owned(), tag.clone(), mtime::to_nanos(at)));
        }
    }
    for tag in &touched.tags_removed {
        batch.tagged_removed.push((repo.to_owned(), tag.clone()));
    }
}
