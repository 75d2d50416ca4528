//! `DerivedImageList` and `BaseImageList`: tagged images whose layers extend, or are a prefix of, the given image's (zot-reference §1.5).

use serde_json::{Map, Value};

use super::filter::Filter;
use super::images::{filter_tags, page_images, split_image, tagged_image};
use super::summary::Found;
use super::{arg_str, object, Ctx};
use crate::meta::image::{Blob, Manifest};
use flotilla_protocol::search::paging::Criteria;

/// Is `base` a non-empty prefix of `derived`, layer digest by layer digest?
fn is_prefix(base: &[Blob], derived: &[Blob]) -> bool {
    !base.is_empty()
        && base.len() <= derived.len()
        && base.iter().zip(derived).all(|(b, d)| b.digest == d.digest)
}

/// Both queries: resolve the argument image (`getImageSummary`, with
/// `digest` naming one manifest under the tag), then keep every tagged
/// manifest (each child of an index on its own, as zot's `FilterTags`
/// tests them) that `related(candidate, argument manifest)` accepts.
fn related_images(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
    related: fn(&Manifest, &Manifest) -> bool,
) -> Result<Value, String> {
    let (repo, tag) = split_image(arg_str(args, "image"));
    if tag.is_empty() {
        return Err("no reference provided".into());
    }
    let digest = args.get("digest").and_then(Value::as_str);
    let searched = match tagged_image(ctx, repo, tag, digest) {
        Ok(found) => found,
        Err(e) if e == "repo metadata not found for given repo name" => {
            return Err("repository not found".into())
        }
        Err(e) => return Err(e),
    };
    let argument: Vec<&Manifest> = searched
        .as_ref()
        .map(|f: &Found<'_>| f.manifests.iter().map(|m| m.as_ref()).collect())
        .unwrap_or_default();
    let found = filter_tags(
        ctx,
        ctx.state.repos.values(),
        |_, _| true,
        |_, _, candidate| {
            argument
                .iter()
                .any(|m| m.digest != candidate.digest && related(candidate, m))
        },
    );
    let (page, results) = page_images(
        ctx,
        found,
        args.get("requestedPage"),
        Criteria::UpdateTime,
        &Filter::default(),
    )?;
    Ok(object([("Page", page), ("Results", results)]))
}

/// `DerivedImageList`: images built on top of the argument image.
pub(crate) fn derived_image_list(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    related_images(ctx, args, |candidate, base| {
        is_prefix(&base.layers, &candidate.layers)
    })
}

/// `BaseImageList`: images the argument image is built on.
pub(crate) fn base_image_list(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    related_images(ctx, args, |candidate, derived| {
        is_prefix(&candidate.layers, &derived.layers)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(digests: &[&str]) -> Vec<Blob> {
        digests
            .iter()
            .map(|d| Blob {
                digest: (*d).into(),
                size: 1,
            })
            .collect()
    }

    #[test]
    fn prefixes_must_be_non_empty_and_no_longer() {
        assert!(is_prefix(&layers(&["a"]), &layers(&["a", "b"])));
        assert!(is_prefix(&layers(&["a", "b"]), &layers(&["a", "b"])));
        assert!(!is_prefix(&layers(&[]), &layers(&["a"])));
        assert!(!is_prefix(&layers(&["a", "b"]), &layers(&["a"])));
        assert!(!is_prefix(&layers(&["b"]), &layers(&["a", "b"])));
    }
}
