//! `/v2/_catalog` for the whole fleet: each member's part (a page pushed down to a Flotilla node, the whole catalog of any other), merged, sorted, de-duplicated, then paged as zot pages.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use flotilla_protocol::paging;

use crate::budget::{Charge, Charged};
use crate::client::Client;
use crate::config::OnMemberFailure;
use crate::error::GatewayError;
use crate::members::{read_charged, ReadError};
use crate::proxy;
use crate::response::Body;
use crate::state::Gateway;

/// One member's part of the fan-out.
enum Part {
    /// Its catalog pages as it sent them: names are borrowed from them for
    /// the merge, so each is held once, in the text that was charged.
    Pages(Vec<Bytes>),
    /// The member refused the caller (401/403): the client gets that answer as is.
    Refused(Response<Body>),
}

/// What the fan-out brought back, for the merge.
struct Fetched {
    /// Each member that answered, with its pages.
    pages: Vec<(String, Vec<Bytes>)>,
    /// Members that failed (`onMemberFailure: partial` leaves them out).
    failed: Vec<GatewayError>,
    /// What the pages hold of the merge budget.
    charge: Charge,
}

enum Outcome {
    Merge(Fetched),
    Refused(Response<Body>),
}

/// Fans out, merges, and pages. Members filter by the caller's own
/// credentials, so each sees only what that user may read.
pub(crate) async fn catalog(
    gw: &Gateway,
    client: &Client,
    req: Request<Incoming>,
) -> Result<Response<Body>, GatewayError> {
    let (parts, _) = req.into_parts();
    let (last, n) = paging::catalog_params(parts.uri.query());
    // A page of `n` needs, from each member, at most its `n` names after
    // `last`, plus `last` itself (whose presence decides an empty page).
    let pushed = (n >= 0).then(|| {
        let from: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
        format!(
            "/v2/_catalog?n={}&{}={from}",
            n.saturating_add(1),
            paging::CATALOG_FROM
        )
    });
    let fetched = fetch_all(gw, client, &parts, pushed.as_deref())
        .await
        .inspect_err(|err| gw.metrics.fan_out_failure(err))?;
    let fetched = match fetched {
        Outcome::Merge(fetched) => fetched,
        Outcome::Refused(resp) => return Ok(resp),
    };
    let paging = Paging {
        last,
        n,
        partial: gw.config.on_member_failure == OnMemberFailure::Partial,
    };
    // Sorting a large fleet's names takes a while: off the async workers.
    let merged = match tokio::task::spawn_blocking(move || merge(fetched, &paging)).await {
        Ok(merged) => merged.inspect_err(|err| gw.metrics.fan_out_failure(err))?,
        // Never aborted, so only a bug in the merge lands here: raised where it belongs.
        Err(e) => std::panic::resume_unwind(e.try_into_panic().unwrap_or_else(|e| Box::new(e))),
    };
    for err in &merged.failed {
        gw.metrics.fan_out_failure(err);
        tracing::warn!(member = err.member().unwrap_or("*"), error = %err, "catalog: member left out");
    }
    let mut resp = Response::new(merged.body.boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(link) = merged.link {
        insert(&mut resp, header::LINK, &link);
    }
    for err in merged.failed {
        let warning = format!("199 flotilla \"{}\"", err.to_string().replace('"', "'"));
        if let Ok(value) = http::HeaderValue::from_str(&warning) {
            resp.headers_mut().append(header::WARNING, value);
        }
    }
    Ok(resp)
}

/// Asks every member for its whole catalog, all within `timeouts.fanOut`
/// (bodies included). Stops early on a refusal, on the merge budget running
/// out, and (unless partial) on the first member failure; when the deadline
/// passes, every member not finished by then is named.
async fn fetch_all(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    pushed: Option<&str>,
) -> Result<Outcome, GatewayError> {
    let partial = gw.config.on_member_failure == OnMemberFailure::Partial;
    let after = gw.config.timeouts.fan_out;
    let deadline = tokio::time::Instant::now() + after;
    let count = gw.members.len();
    let mut pending: FuturesUnordered<_> = (0..count)
        .map(|i| async move {
            let mut charge = gw.budget.charge();
            let part = member_catalog(gw, i, client, parts, pushed, &mut charge).await;
            (i, part, charge)
        })
        .collect();
    let mut done: Vec<Option<Result<Part, GatewayError>>> = (0..count).map(|_| None).collect();
    let mut charge = gw.budget.charge();
    let collect = async {
        while let Some((i, part, held)) = pending.next().await {
            // A failed member's bytes are gone already: only pages stay charged.
            if let Ok(Part::Pages(_)) = &part {
                charge.absorb(held);
            }
            let stop = match &part {
                Ok(Part::Refused(_)) | Err(GatewayError::MergeBudget { .. }) => true,
                Err(_) => !partial,
                Ok(Part::Pages(_)) => false,
            };
            done[i] = Some(part);
            if stop {
                break;
            }
        }
    };
    let in_time = tokio::time::timeout_at(deadline, collect).await.is_ok();
    drop(pending);
    let mut fetched = Fetched {
        pages: Vec::new(),
        failed: Vec::new(),
        charge,
    };
    for (i, slot) in done.into_iter().enumerate() {
        let member = gw.members.get(i).name.clone();
        match slot {
            Some(Ok(Part::Refused(resp))) => return Ok(Outcome::Refused(resp)),
            Some(Ok(Part::Pages(pages))) => fetched.pages.push((member, pages)),
            Some(Err(err @ GatewayError::MergeBudget { .. })) => return Err(err),
            Some(Err(err)) => fetched.failed.push(err),
            None if !in_time => fetched
                .failed
                .push(GatewayError::MemberTimeout { member, after }),
            // Cancelled once another member had failed the whole request.
            None => {}
        }
    }
    Ok(Outcome::Merge(fetched))
}

/// The client's `n`/`last`, and what a failed member does to the answer.
struct Paging {
    last: String,
    n: i64,
    partial: bool,
}

/// The merged page, ready to send.
struct Merged {
    body: Charged,
    link: Option<String>,
    /// Members left out, for `Warning` headers.
    failed: Vec<GatewayError>,
}

/// Reads every member's names out of its pages, sorts them in zot's order
/// without duplicates, and cuts the client's page. Names stay borrowed from
/// the pages, so the merge holds little beyond the text it was sent.
fn merge(fetched: Fetched, paging: &Paging) -> Result<Merged, GatewayError> {
    let Fetched {
        pages,
        mut failed,
        mut charge,
    } = fetched;
    // Every name is a quoted string: half the quotes bound the count, so the
    // index is charged before it is allocated, once, and never regrown.
    let quotes: usize = pages
        .iter()
        .flat_map(|(_, bodies)| bodies)
        .map(|body| body.iter().filter(|&&b| b == b'"').count())
        .sum();
    // The index, and the stable sort's scratch of half as much again.
    charge.add(quotes / 2 * std::mem::size_of::<Name<'_>>() * 3 / 2)?;
    let mut names: Vec<Name<'_>> = Vec::with_capacity(quotes / 2);
    for (member, bodies) in &pages {
        let before = names.len();
        for body in bodies {
            if let Err(e) = names_into(body, &mut names) {
                names.truncate(before);
                failed.push(GatewayError::BadMember {
                    member: member.clone(),
                    reason: format!("catalog is not a catalog: {e}"),
                });
                break;
            }
        }
    }
    if !paging.partial {
        match failed.len() {
            0 => {}
            1 => return Err(failed.remove(0)),
            _ => return Err(GatewayError::Members(failed)),
        }
    }
    let page = page_of(&mut names, &paging.last, paging.n);
    let link = paging::catalog_link(&page, paging.n);
    // The answer is charged apart, and held until it has been sent.
    let size = page.iter().map(|n| n.0.len() + 3).sum::<usize>() + 20;
    let mut out = charge.sibling();
    out.add(size)?;
    let mut body = Vec::with_capacity(size);
    // Strings written into memory: serde_json has no way to fail here.
    let _ = serde_json::to_writer(
        &mut body,
        &Answer {
            repositories: &page,
        },
    );
    Ok(Merged {
        body: Charged::new(body.into(), out),
        link,
        failed,
    })
}

/// Sorts `names` in zot's catalog order without duplicates and cuts the
/// client's page (`n`, `last`), borrowing all of it when no page is asked.
pub(crate) fn page_of<'n, 'b>(
    names: &'n mut Vec<Name<'b>>,
    last: &str,
    n: i64,
) -> Cow<'n, [Name<'b>]> {
    // Each member's part arrives sorted (zot's order, or distribution's byte
    // order, close to it): the stable sort finds those runs and merges them
    // in O(n log members) comparisons, where sorting afresh costs O(n log n).
    names.sort_by(|a, b| paging::catalog_order(&a.0, &b.0));
    names.dedup_by(|a, b| a.0 == b.0);
    if n < 0 && last.is_empty() {
        Cow::Borrowed(names)
    } else {
        Cow::Owned(paging::catalog_page(names.iter().cloned(), last, n, |_| {
            true
        }))
    }
}

#[derive(Serialize)]
struct Answer<'a, 'b> {
    repositories: &'a [Name<'b>],
}

/// A repository name, borrowed from a member's page unless it was escaped there.
#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub(crate) struct Name<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl AsRef<str> for Name<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Appends the names of one catalog page (`{"repositories": [...]}`, the
/// list possibly null or absent) to `into`. Anything else is an error: a
/// list that is not one, a name that is not a string, trailing bytes.
pub(crate) fn names_into<'b>(
    body: &'b [u8],
    into: &mut Vec<Name<'b>>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    PageSeed(into).deserialize(&mut de)?;
    de.end()
}

struct PageSeed<'v, 'b>(&'v mut Vec<Name<'b>>);

impl<'b> DeserializeSeed<'b> for PageSeed<'_, 'b> {
    type Value = ();

    fn deserialize<D: Deserializer<'b>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'b> Visitor<'b> for PageSeed<'_, 'b> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a catalog page, {\"repositories\": [names]}")
    }

    fn visit_map<A: MapAccess<'b>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'_, str>>()? {
            if key == "repositories" {
                map.next_value_seed(NamesSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct NamesSeed<'v, 'b>(&'v mut Vec<Name<'b>>);

impl<'b> DeserializeSeed<'b> for NamesSeed<'_, 'b> {
    type Value = ();

    fn deserialize<D: Deserializer<'b>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_option(self)
    }
}

impl<'b> Visitor<'b> for NamesSeed<'_, 'b> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of repository names")
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'b>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'b>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(name) = seq.next_element::<Name<'b>>()? {
            self.0.push(name);
        }
        Ok(())
    }
}

/// What the merge needs of a member's catalog. A member that honours the
/// page asked at `pushed` (a Flotilla node, saying so in
/// `paging::CATALOG_FROM_HEADER`) answers it in one page. Any other member
/// (zot, distribution: their order or their `last` cannot serve a page of
/// the fleet) is walked whole, following its `Link` pages (distribution
/// caps pages at 100 and URL-encodes `last`; zot answers in one page).
async fn member_catalog(
    gw: &Gateway,
    index: usize,
    client: &Client,
    parts: &http::request::Parts,
    pushed: Option<&str>,
    charge: &mut Charge,
) -> Result<Part, GatewayError> {
    let member = gw.members.get(index).name.clone();
    let bad = |reason: String| GatewayError::BadMember {
        member: member.clone(),
        reason,
    };
    let mut pages = Vec::new();
    let mut path = pushed.unwrap_or("/v2/_catalog").to_owned();
    let mut pushing = pushed.is_some();
    let mut walk = Walk::default();
    for _ in 0..gw.config.limits.catalog_pages {
        let mut up = proxy::request_head(&gw.members, index, client, parts)?;
        *up.method_mut() = Method::GET;
        *up.uri_mut() = gw.members.uri(index, &path)?;
        up.headers_mut().remove(header::CONTENT_LENGTH);
        // The gateway parses this body, so it must come uncompressed.
        up.headers_mut().remove(header::ACCEPT_ENCODING);
        let resp = gw.members.send(index, up).await?;
        let status = resp.status();
        let honoured =
            status == StatusCode::OK && resp.headers().contains_key(paging::CATALOG_FROM_HEADER);
        let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
        // Any other answer to the push-down (distribution refuses `n` over
        // 1000 with a 400) says only that this member is walked whole.
        if std::mem::take(&mut pushing) && !honoured && !refused {
            path = "/v2/_catalog".to_owned();
            continue;
        }
        match status {
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
        // A pushed-down page is the member's whole part: nothing to follow.
        let next = match honoured {
            true => None,
            false => next_page(resp.headers(), &member).map_err(&bad)?,
        };
        let body = read_charged(resp, gw.config.limits.merged_body_bytes, charge)
            .await
            .map_err(|e| match e {
                ReadError::Budget(exhausted) => exhausted.into(),
                e => bad(format!("catalog {e}")),
            })?;
        let follow = match &next {
            Some(next) => walk.follow(&body, next).map_err(&bad)?,
            None => false,
        };
        pages.push(body);
        match next {
            Some(next) if follow => path = next,
            _ => return Ok(Part::Pages(pages)),
        }
    }
    Err(bad(format!(
        "more than {} catalog pages",
        gw.config.limits.catalog_pages
    )))
}

/// How far a member's paged catalog has been walked: the `last` of each
/// `Link` followed. A member that links back to itself, or never moves on,
/// costs a request or two, not `limits.catalogPages` of them.
#[derive(Default)]
struct Walk {
    /// The `last` the page just read was asked for (`""` for the first).
    after: String,
    followed: HashSet<String>,
}

impl Walk {
    /// Whether to follow `next`, the `Link` of the page `body`. Its `last`
    /// must come after the page's own `last`, and never repeat, else the
    /// member is at fault; a page that adds no name after its `last` ends
    /// the walk (a member that ignores `last`).
    fn follow(&mut self, body: &[u8], next: &str) -> Result<bool, String> {
        let last = form_urlencoded::parse(next.split_once('?').map_or("", |(_, q)| q).as_bytes())
            .find(|(k, _)| k == "last")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !self.advances(&last) || self.followed.contains(&last) {
            return Err(format!(
                "catalog Link `{next}` does not advance past last={:?}",
                self.after
            ));
        }
        let mut names = Vec::new();
        names_into(body, &mut names).map_err(|e| format!("catalog is not a catalog: {e}"))?;
        if !names.iter().any(|n| self.advances(&n.0)) {
            return Ok(false);
        }
        self.followed.insert(last.clone());
        self.after = last;
        Ok(true)
    }

    /// Whether `name` comes after the walk's `last`: in zot's order, or in
    /// plain byte order, which distribution pages in.
    fn advances(&self, name: &str) -> bool {
        paging::catalog_order(name, &self.after) == Ordering::Greater || name > self.after.as_str()
    }
}

/// The path of the next page from a `Link: <…>; rel="next"` header. Only a
/// catalog path on the same member is followed; anything else is refused.
pub(crate) fn next_page(headers: &http::HeaderMap, member: &str) -> Result<Option<String>, String> {
    next_link(headers, member, "/v2/_catalog")
}

/// The path of the next page of the list at `path` (the catalog, a tag
/// list) from a `Link` header: only `path` on the same member is followed.
pub(crate) fn next_link(
    headers: &http::HeaderMap,
    member: &str,
    path: &str,
) -> Result<Option<String>, String> {
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
    if uri.path() != path {
        return Err(format!("Link outside {path} `{link}`"));
    }
    Ok(Some(
        uri.path_and_query()
            .map_or(path.into(), |p| p.as_str().to_owned()),
    ))
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

    fn fetched(pages: &[(&str, &[&str])]) -> Fetched {
        Fetched {
            pages: pages
                .iter()
                .map(|(m, bodies)| {
                    let bodies = bodies.iter().map(|b| Bytes::from(b.to_string())).collect();
                    (m.to_string(), bodies)
                })
                .collect(),
            failed: Vec::new(),
            charge: Charge::unbudgeted(),
        }
    }

    fn merged(fetched: Fetched, last: &str, n: i64, partial: bool) -> Result<Merged, GatewayError> {
        let paging = Paging {
            last: last.into(),
            n,
            partial,
        };
        merge(fetched, &paging)
    }

    fn text(merged: Merged) -> String {
        let mut body = merged.body;
        let frame = futures_util::FutureExt::now_or_never(body.frame()).unwrap();
        String::from_utf8(frame.unwrap().unwrap().into_data().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn merged_names_sort_as_zot_walks() {
        let members = fetched(&[
            ("m:1", &[r#"{"repositories":["b","a-c"]}"#]),
            (
                "m:2",
                &[
                    r#"{"repositories":["a\/b","a"]}"#,
                    r#"{"repositories":null}"#,
                ],
            ),
            ("m:3", &[r#"{"repositories":["a/b"],"other":{"x":[1]}}"#]),
        ]);
        let all = merged(members, "", -1, false).unwrap();
        assert_eq!(all.link, None);
        assert_eq!(text(all), r#"{"repositories":["a","a/b","a-c","b"]}"#);
        let members = fetched(&[("m:1", &[r#"{"repositories":["b","a-c","a","a/b"]}"#])]);
        let page = merged(members, "a", 2, false).unwrap();
        assert_eq!(
            page.link.as_deref(),
            Some("</v2/_catalog?n=2&last=a-c>; rel=\"next\"")
        );
        assert_eq!(text(page), r#"{"repositories":["a/b","a-c"]}"#);
    }

    #[test]
    fn a_page_of_the_wrong_shape_fails_its_member_by_name() {
        for body in [
            r#"{"repositories":"a"}"#,
            r#"{"repositories":[1]}"#,
            r#"["a"]"#,
            r#"{"repositories":["a"]} x"#,
            "{",
        ] {
            let members = fetched(&[
                ("good:1", &[r#"{"repositories":["a"]}"#]),
                ("bad:2", &[body]),
            ]);
            let err = merged(members, "", -1, false).err().unwrap();
            assert_eq!(err.member(), Some("bad:2"), "{body}: {err}");
            let members = fetched(&[
                ("good:1", &[r#"{"repositories":["a"]}"#]),
                ("bad:2", &[body]),
            ]);
            let partial = merged(members, "", -1, true).unwrap();
            assert_eq!(partial.failed.len(), 1, "{body}");
            assert_eq!(text(partial), r#"{"repositories":["a"]}"#);
        }
    }

    #[test]
    fn a_walk_follows_only_links_that_advance() {
        let page = br#"{"repositories":["a","b"]}"#;
        let mut walk = Walk::default();
        assert!(walk.follow(page, "/v2/_catalog?n=2&last=b").unwrap());
        // The same Link again: a loop, found on the second page.
        assert!(walk.follow(page, "/v2/_catalog?n=2&last=b").is_err());
        // A Link without `last` starts over.
        assert!(Walk::default().follow(page, "/v2/_catalog").is_err());
        // Backwards, in both orders.
        let mut walk = Walk::default();
        assert!(walk.follow(page, "/v2/_catalog?last=b").unwrap());
        assert!(walk
            .follow(br#"{"repositories":["c"]}"#, "/v2/_catalog?last=a")
            .is_err());
        // A page with nothing after its `last` ends the walk.
        assert!(!walk.follow(page, "/v2/_catalog?last=c").unwrap());
        assert!(!Walk::default()
            .follow(br#"{"repositories":[]}"#, "/v2/_catalog?last=z")
            .unwrap());
        // Distribution pages in byte order ("a-c" < "a/b") and escapes `last`.
        let mut walk = Walk::default();
        assert!(walk
            .follow(br#"{"repositories":["a-c"]}"#, "/v2/_catalog?last=a-c&n=1")
            .unwrap());
        assert!(walk
            .follow(
                br#"{"repositories":["a/b"]}"#,
                "/v2/_catalog?last=a%2Fb&n=1"
            )
            .unwrap());
        assert!(walk
            .follow(br#"{"repositories":["a"]}"#, "/v2/_catalog?last=a-c&n=1")
            .is_err());
    }
}
