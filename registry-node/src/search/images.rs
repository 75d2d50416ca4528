//! `ImageList`, `ImageListForDigest` and `Image`, over zot's `FilterTags` walk and image page cut.

use serde_json::{json, Map, Value};

use super::filter::Filter;
use super::summary::{image_summary, Found};
use super::{arg_str, object, page_info, Ctx};
use crate::meta::image::{Image, Manifest};
use crate::meta::repo::Repo;
use flotilla_protocol::search::paging::{image_order, Criteria, Page};

/// zot's `FilterTags`: every tag of every readable repository in `repos`
/// (name order) accepted by `accept_tag`; a manifest is kept if `accept`
/// takes it, an index with the children `accept` takes (if any). `accept`
/// sees the repository, the tagged digest and one manifest.
pub(crate) fn filter_tags<'a>(
    ctx: &Ctx<'a>,
    repos: impl IntoIterator<Item = &'a Repo>,
    accept_tag: impl Fn(&str, &str) -> bool,
    accept: impl Fn(&Repo, &str, &Manifest) -> bool,
) -> Vec<Found<'a>> {
    let mut found = Vec::new();
    for repo in repos {
        if !ctx.can_read(&repo.name) {
            continue;
        }
        for (tag, t) in &repo.tags {
            if !accept_tag(&repo.name, tag) {
                continue;
            }
            let Some(image) = repo.images.get(&t.digest) else {
                continue;
            };
            let mut whole = Found::whole(repo, tag, image);
            whole.manifests.retain(|m| accept(repo, &t.digest, m));
            if !whole.manifests.is_empty() {
                found.push(whole);
            }
        }
    }
    found
}

/// zot's `PaginatedFullImageMeta2ImageSummaries`: filter, sort, cut, and
/// build summaries for the page only.
pub(crate) fn page_images(
    ctx: &Ctx<'_>,
    found: Vec<Found<'_>>,
    requested: Option<&Value>,
    default: Criteria,
    filter: &Filter,
) -> Result<(Value, Value), String> {
    let page = Page::read(requested, default)?;
    let order = image_order(page.sort_by)?;
    let open = filter.is_open();
    let keyed: Vec<_> = found
        .into_iter()
        .filter(|f| open || filter.accepts_image(f.is_signed(), &f.platforms()))
        .map(|f| (f.key(), f))
        .collect();
    let (items, (total, count)) = page.sort_cut(keyed, |a, b| order(&a.0, &b.0));
    let results = items
        .iter()
        .map(|(_, f)| image_summary(&ctx.wanted, f, None))
        .collect();
    Ok((page_info(total, count), Value::Array(results)))
}

fn paginated((page, results): (Value, Value)) -> Value {
    object([("Page", page), ("Results", results)])
}

/// `ImageList(repo)`: the tags of one repository, or of all when `repo` is "".
pub(crate) fn image_list(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let repo = arg_str(args, "repo");
    let repos: Vec<&Repo> = if repo.is_empty() {
        ctx.state.repos.values().collect()
    } else {
        ctx.state.repos.get(repo).into_iter().collect()
    };
    let found = filter_tags(ctx, repos, |_, _| true, |_, _, _| true);
    alphabetic_page(ctx, found, args)
}

/// A page of `found`, unfiltered, by name unless `requestedPage` says otherwise
/// (RELEVANCE is alphabetic for images).
fn alphabetic_page(
    ctx: &Ctx<'_>,
    found: Vec<Found<'_>>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    let page = page_images(
        ctx,
        found,
        args.get("requestedPage"),
        Criteria::Relevance,
        &Filter::default(),
    )?;
    Ok(paginated(page))
}

/// zot's `FilterByDigest`: the image's own digest equal to `id`, or `id`
/// inside the manifest, config or any layer digest.
pub(crate) fn matches_digest(id: &str, image_digest: &str, m: &Manifest) -> bool {
    image_digest == id
        || m.digest.contains(id)
        || m.config.digest.contains(id)
        || m.layers.iter().any(|l| l.digest.contains(id))
}

/// `ImageListForDigest(id)`.
pub(crate) fn image_list_for_digest(
    ctx: &Ctx<'_>,
    args: &Map<String, Value>,
) -> Result<Value, String> {
    let id = arg_str(args, "id");
    let found = filter_tags(
        ctx,
        ctx.state.repos.values(),
        |_, _| true,
        |_, digest, m| matches_digest(id, digest, m),
    );
    alphabetic_page(ctx, found, args)
}

/// zot's `GetImageDirAndTag`: split at the first `:`.
pub(crate) fn split_image(image: &str) -> (&str, &str) {
    image.split_once(':').unwrap_or((image, ""))
}

/// zot's `getImageSummary`: one tagged image, optionally a given digest
/// under that tag. `Ok(None)` is the empty answer a user who may not read
/// the repository gets.
pub(crate) fn tagged_image<'a>(
    ctx: &Ctx<'a>,
    repo: &str,
    tag: &'a str,
    digest: Option<&str>,
) -> Result<Option<Found<'a>>, String> {
    if !ctx.can_read(repo) {
        return Ok(None);
    }
    let r = ctx
        .state
        .repos
        .get(repo)
        .ok_or("repo metadata not found for given repo name")?;
    let t = r
        .tags
        .get(tag)
        .ok_or_else(|| format!("can't find image: {repo}:{tag}"))?;
    let digest = digest.unwrap_or(&t.digest);
    let image: &Image = r
        .images
        .get(digest)
        .ok_or_else(|| format!("image meta not found for digest {digest}"))?;
    Ok(Some(Found::whole(r, tag, image)))
}

/// `Image(image: "repo:tag")`.
pub(crate) fn image(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let (repo, tag) = split_image(arg_str(args, "image"));
    if tag.is_empty() {
        return Err("no reference provided".into());
    }
    Ok(match tagged_image(ctx, repo, tag, None)? {
        Some(found) => image_summary(&ctx.wanted, &found, None),
        None => json!({}),
    })
}
