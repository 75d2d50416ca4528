//! `/v2/_catalog` and `/v2/<name>/tags/list`, with zot's exact `n`/`last` rules and `Link` format (zot-reference §2.3.1–2).

use http::StatusCode;
use serde::Serialize;

use super::response::{self, set};
use super::{Node, Request, Response};
use crate::auth::Identity;
use crate::error::{NodeError, Result};
use flotilla_protocol::paging;

#[derive(Serialize)]
struct Catalog<'a> {
    repositories: &'a [String],
}

/// zot's `ListRepositories`: `n` that is not an integer means no limit; `last`
/// must be an existing repository or the page is empty; unreadable
/// repositories are skipped without counting toward `n`. The page comes
/// from the store's ordered index, so it costs `n`, not the catalog. With
/// Flotilla's `from` (`paging::CATALOG_FROM`), asked only by a gateway, the
/// page is the readable names from there on, marked as such and unlinked.
pub(super) async fn catalog(node: &Node, who: &Identity, req: &Request) -> Result<Response> {
    let (last, n) = paging::catalog_params(req.uri().query());
    let readable = |repo: &str| node.access.can_read(who, repo);
    if let Some(from) = paging::catalog_from(req.uri().query()) {
        let page = node.store.catalog_from(&from, n, readable);
        let mut resp = response::json(
            StatusCode::OK,
            &Catalog {
                repositories: &page,
            },
        );
        set(&mut resp, paging::CATALOG_FROM_HEADER, "1");
        return Ok(resp);
    }
    let page = node.store.catalog_page(&last, n, readable);
    let mut resp = response::json(
        StatusCode::OK,
        &Catalog {
            repositories: &page,
        },
    );
    if let Some(link) = paging::catalog_link(&page, n) {
        set(&mut resp, "Link", &link);
    }
    Ok(resp)
}

#[derive(Serialize)]
struct Tags<'a> {
    name: &'a str,
    tags: &'a [String],
}

/// zot's `ListTags`: a bad or repeated `n`, or a repeated `last`, is a bare
/// 400; a `last` that is not a tag is a bare 404.
pub(super) async fn tags(node: &Node, name: &str, req: &Request) -> Result<Response> {
    let (n, last) =
        paging::tags_params(req.uri().query()).ok_or(NodeError::Status(StatusCode::BAD_REQUEST))?;
    let tags = node.store.tags(name).await?;
    let (page, more) =
        paging::tags_page(&tags, n, &last).ok_or(NodeError::Status(StatusCode::NOT_FOUND))?;
    let mut resp = response::json(StatusCode::OK, &Tags { name, tags: page });
    if let (Some(n), Some(last_tag), true) = (n, page.last(), more) {
        set(&mut resp, "Link", &paging::tags_link(name, n, last_tag));
    }
    Ok(resp)
}
