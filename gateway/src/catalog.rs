//! `/v2/_catalog` for the whole fleet: every member's full catalog, merged, sorted, de-duplicated, then paged as zot pages.

use std::collections::BTreeSet;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use flotilla_node::paging;

use crate::config::OnMemberFailure;
use crate::error::GatewayError;
use crate::gateway::{text, Gateway};
use crate::proxy::{self, Client};
use crate::server::Body;

/// One member's part of the fan-out.
enum Part {
    Repos(Vec<String>),
    /// The member refused the caller (401/403): the client gets that answer as is.
    Refused(Response<Body>),
}

#[derive(Deserialize)]
pub(crate) struct CatalogPage {
    #[serde(default)]
    pub(crate) repositories: Option<Vec<String>>,
}

/// Fans out, merges, and pages. Members filter by the caller's own
/// credentials, so each sees only what that user may read.
pub(crate) async fn catalog(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let (parts, _) = req.into_parts();
    let fetches = (0..gw.members.len()).map(|i| member_catalog(gw, i, client, &parts));
    let parts_all = match tokio::time::timeout(
        gw.config.timeouts.fan_out,
        futures_util::future::join_all(fetches),
    )
    .await
    {
        Ok(all) => all,
        Err(_) => {
            return Err(GatewayError::MemberTimeout {
                member: "*".into(),
                after: gw.config.timeouts.fan_out,
            });
        }
    };
    let mut merged = BTreeSet::new();
    let mut warnings = Vec::new();
    for (i, part) in parts_all.into_iter().enumerate() {
        match part {
            Ok(Part::Repos(repos)) => merged.extend(repos.into_iter().map(Ordered)),
            Ok(Part::Refused(resp)) => return Ok(resp),
            Err(err) if gw.config.on_member_failure == OnMemberFailure::Partial => {
                tracing::warn!(member = %gw.members.get(i).name, error = %err, "catalog: member left out");
                warnings.push(format!(
                    "199 flotilla \"{}\"",
                    err.to_string().replace('"', "'")
                ));
            }
            Err(err) => return Err(err),
        }
    }
    let all: Vec<String> = merged.into_iter().map(|o| o.0).collect();
    let (last, n) = paging::catalog_params(parts.uri.query());
    let page = paging::catalog_page(&all, &last, n, |_| true);
    let body = serde_json::to_vec(&serde_json::json!({ "repositories": page })).unwrap_or_default();
    let mut resp = text(StatusCode::OK, "application/json", body.into());
    if let Some(link) = paging::catalog_link(&page, n) {
        insert(&mut resp, header::LINK, &link);
    }
    for warning in warnings {
        if let Ok(value) = http::HeaderValue::from_str(&warning) {
            resp.headers_mut().append(header::WARNING, value);
        }
    }
    Ok(resp)
}

/// A member's whole catalog, following its `Link` pages (distribution caps
/// pages at 100 and URL-encodes `last`; zot answers in one page).
async fn member_catalog(
    gw: &Gateway,
    index: usize,
    client: &Client,
    parts: &http::request::Parts,
) -> Result<Part, GatewayError> {
    let member = gw.members.get(index).name.clone();
    let bad = |reason: String| GatewayError::BadMember {
        member: member.clone(),
        reason,
    };
    let mut repos = Vec::new();
    let mut path = "/v2/_catalog".to_owned();
    for _ in 0..gw.config.limits.catalog_pages {
        let mut up = proxy::request_head(&gw.members, index, client, parts)?;
        *up.method_mut() = Method::GET;
        *up.uri_mut() = gw.members.uri(index, &path)?;
        up.headers_mut().remove(header::CONTENT_LENGTH);
        // The gateway parses this body, so it must come uncompressed.
        up.headers_mut().remove(header::ACCEPT_ENCODING);
        let resp = gw.members.send(index, up).await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let origin = proxy::origin(&parts.headers, &parts.uri, client);
                return Ok(Part::Refused(proxy::client_response(
                    &gw.members,
                    &origin,
                    resp,
                )));
            }
            status => return Err(bad(format!("catalog answered {status}"))),
        }
        let next = next_page(resp.headers(), &member).map_err(&bad)?;
        let body = crate::members::read_body(resp, gw.config.limits.merged_body_bytes)
            .await
            .map_err(|e| bad(format!("catalog {e}")))?;
        let page: CatalogPage =
            serde_json::from_slice(&body).map_err(|e| bad(format!("catalog is not JSON: {e}")))?;
        repos.extend(page.repositories.unwrap_or_default());
        match next {
            Some(next) => path = next,
            None => return Ok(Part::Repos(repos)),
        }
    }
    Err(bad(format!(
        "more than {} catalog pages",
        gw.config.limits.catalog_pages
    )))
}

/// The path of the next page from a `Link: <…>; rel="next"` header. Only a
/// catalog path on the same member is followed; anything else is refused.
pub(crate) fn next_page(headers: &http::HeaderMap, member: &str) -> Result<Option<String>, String> {
    let Some(link) = headers.get(header::LINK) else {
        return Ok(None);
    };
    let link = link
        .to_str()
        .map_err(|_| "unreadable Link header".to_owned())?;
    let target = link
        .split(';')
        .next()
        .and_then(|t| t.trim().strip_prefix('<'))
        .and_then(|t| t.strip_suffix('>'))
        .ok_or_else(|| format!("malformed Link `{link}`"))?;
    let uri: http::Uri = target
        .parse()
        .map_err(|_| format!("malformed Link `{link}`"))?;
    if uri
        .authority()
        .is_some_and(|a| !a.as_str().eq_ignore_ascii_case(member))
    {
        return Err(format!("Link to another host `{link}`"));
    }
    if uri.path() != "/v2/_catalog" {
        return Err(format!("Link outside the catalog `{link}`"));
    }
    Ok(Some(
        uri.path_and_query()
            .map_or("/v2/_catalog".into(), |p| p.as_str().to_owned()),
    ))
}

/// Repository names in zot's catalog order, for the merge set.
#[derive(PartialEq, Eq)]
pub(crate) struct Ordered(pub(crate) String);

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        paging::catalog_order(&self.0, &other.0)
    }
}

fn insert(resp: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(value) = http::HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(header::LINK, value.parse().unwrap());
        h
    }

    #[test]
    fn member_links_are_followed_only_within_the_catalog() {
        assert_eq!(next_page(&http::HeaderMap::new(), "m:1").unwrap(), None);
        let zot = link("</v2/_catalog?n=2&last=b/two>; rel=\"next\"");
        assert_eq!(
            next_page(&zot, "m:1").unwrap().unwrap(),
            "/v2/_catalog?n=2&last=b/two"
        );
        let distribution = link("</v2/_catalog?last=b%2Ftwo&n=100>; rel=\"next\"");
        assert_eq!(
            next_page(&distribution, "m:1").unwrap().unwrap(),
            "/v2/_catalog?last=b%2Ftwo&n=100"
        );
        assert!(next_page(
            &link("<http://evil:80/v2/_catalog?n=1>; rel=\"next\""),
            "m:1"
        )
        .is_err());
        assert!(next_page(&link("</v2/other>; rel=\"next\""), "m:1").is_err());
        assert!(next_page(&link("http://m:1/v2/_catalog"), "m:1").is_err());
    }

    #[test]
    fn merged_names_sort_as_zot_walks() {
        let set: BTreeSet<Ordered> = ["b", "a-c", "a/b", "a", "a/b"]
            .iter()
            .map(|s| Ordered(s.to_string()))
            .collect();
        let names: Vec<&str> = set.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(names, vec!["a", "a/b", "a-c", "b"]);
    }
}
