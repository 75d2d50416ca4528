//! `/v2/_catalog` for the whole fleet: each member's part (its share of the page from a Flotilla node, the whole catalog of any other), merged in zot's order without duplicates, then paged as zot pages.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
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
use crate::placement;
use crate::proxy;
use crate::response::Body;
use crate::state::Gateway;

/// One member's part of the fan-out.
enum Part {
    /// Its catalog pages as it sent them: names are borrowed from them for
    /// the merge, so each is held once, in the text that was charged.
    Pages(Got),
    /// The member refused the caller (401/403): the client gets that answer as is.
    Refused(Response<Body>),
}

/// What one member sent.
struct Got {
    /// Its name, for errors and warnings.
    member: String,
    /// Its pages, as sent.
    pages: Vec<Bytes>,
    /// The page pushed down (`Some(count)` names asked) that it answered, or
    /// `None`: its whole catalog, walked.
    cut: Option<usize>,
}

/// What the fan-out brought back, for the merge.
struct Fetched {
    /// Each member that answered, by index, with its pages.
    pages: Vec<(usize, Got)>,
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
    let paging = Paging {
        last,
        n,
        partial: gw.config.on_member_failure == OnMemberFailure::Partial,
    };
    let deadline = tokio::time::Instant::now() + gw.config.timeouts.fan_out;
    let everyone: Vec<usize> = (0..gw.members.len()).collect();
    // A page of `n` needs from each member at most its `n` names after
    // `last`; placement spreads them evenly, so each is first asked for its
    // share, and only one that may hold more of the page is asked again.
    let share = usize::try_from(paging.n)
        .ok()
        .map(|n| placement::first_share(n, everyone.len()));
    let fetched = fetch_all(gw, client, &parts, &everyone, paging.push(share), deadline).await;
    let mut fetched = match fetched.inspect_err(|err| gw.metrics.fan_out_failure(err))? {
        Outcome::Merge(fetched) => fetched,
        Outcome::Refused(resp) => return Ok(resp),
    };
    let mut may_ask_again = true;
    let merged = loop {
        let merged = merge_where_it_fits(fetched, &paging, may_ask_again).await;
        let short = match merged.inspect_err(|err| gw.metrics.fan_out_failure(err))? {
            Merge::Done(merged) => break merged,
            Merge::Short(back, short) => {
                fetched = back;
                short
            }
        };
        // Each member found short is asked for the whole page: it cannot be short again.
        may_ask_again = false;
        let whole = usize::try_from(paging.n).ok();
        let again = fetch_all(gw, client, &parts, &short, paging.push(whole), deadline).await;
        match again.inspect_err(|err| gw.metrics.fan_out_failure(err))? {
            Outcome::Merge(again) => fetched.replace(again),
            Outcome::Refused(resp) => return Ok(resp),
        }
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

/// Asks `members` for their part (the page at `pushed`, else the whole
/// catalog), all by `deadline`, the end of `timeouts.fanOut` for the whole
/// request (bodies included). Stops early on a refusal, on the merge budget
/// running out, and (unless partial) on the first member failure; when the
/// deadline passes, every member not finished by then is named.
async fn fetch_all(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    members: &[usize],
    pushed: Option<Pushed>,
    deadline: tokio::time::Instant,
) -> Result<Outcome, GatewayError> {
    let partial = gw.config.on_member_failure == OnMemberFailure::Partial;
    let after = gw.config.timeouts.fan_out;
    let pushed = pushed.as_ref();
    let mut pending: FuturesUnordered<_> = members
        .iter()
        .enumerate()
        .map(|(slot, &i)| async move {
            let mut charge = gw.budget.charge();
            let part = member_catalog(gw, i, client, parts, pushed, &mut charge).await;
            (slot, part, charge)
        })
        .collect();
    let mut done: Vec<Option<Result<Part, GatewayError>>> = members.iter().map(|_| None).collect();
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
    for (&i, slot) in members.iter().zip(done) {
        let member = gw.members.get(i).name.clone();
        match slot {
            Some(Ok(Part::Refused(resp))) => return Ok(Outcome::Refused(resp)),
            Some(Ok(Part::Pages(got))) => fetched.pages.push((i, got)),
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
#[derive(Clone)]
struct Paging {
    last: String,
    n: i64,
    partial: bool,
}

/// A page pushed down to a member: its names from `last` on.
struct Pushed {
    path: String,
    /// How many names are asked: a member that sends as many may hold more.
    count: usize,
}

impl Paging {
    /// The push-down of `names` names after `last` (`None`: no push-down,
    /// every member's whole catalog), asked with `last` itself, whose
    /// presence decides an empty page.
    fn push(&self, names: Option<usize>) -> Option<Pushed> {
        let count = names?.saturating_add(1);
        let from: String = form_urlencoded::byte_serialize(self.last.as_bytes()).collect();
        Some(Pushed {
            path: format!("/v2/_catalog?n={count}&{}={from}", paging::CATALOG_FROM),
            count,
        })
    }
}

/// The most text merged on an async worker; more is merged on the blocking pool.
const INLINE_MERGE_BYTES: usize = 256 << 10;

impl Fetched {
    /// The text of every page fetched.
    fn bytes(&self) -> usize {
        self.pages
            .iter()
            .flat_map(|(_, got)| &got.pages)
            .map(Bytes::len)
            .sum()
    }

    /// Takes `again`'s parts in place of the same members' earlier ones. A
    /// member that failed when asked again is left out, as if it had failed
    /// at first: its earlier share alone would let the page skip its names.
    fn replace(&mut self, again: Fetched) {
        self.pages.retain(|(_, got)| {
            !again
                .failed
                .iter()
                .any(|e| e.member() == Some(got.member.as_str()))
        });
        for (i, got) in again.pages {
            match self.pages.iter_mut().find(|(j, _)| *j == i) {
                Some(slot) => slot.1 = got,
                None => self.pages.push((i, got)),
            }
        }
        self.failed.extend(again.failed);
        self.charge.absorb(again.charge);
    }
}

/// Merges on this async worker, or for more text than a page's (sorting a
/// large fleet's names takes a while) on the blocking pool.
async fn merge_where_it_fits(
    fetched: Fetched,
    paging: &Paging,
    may_ask_again: bool,
) -> Result<Merge, GatewayError> {
    if fetched.bytes() <= INLINE_MERGE_BYTES {
        return merge(fetched, paging, may_ask_again);
    }
    let paging = paging.clone();
    match tokio::task::spawn_blocking(move || merge(fetched, &paging, may_ask_again)).await {
        Ok(merged) => merged,
        // Never aborted, so only a bug in the merge lands here: raised where it belongs.
        Err(e) => std::panic::resume_unwind(e.try_into_panic().unwrap_or_else(|e| Box::new(e))),
    }
}

/// What a merge comes to.
enum Merge {
    /// The page, exact.
    Done(Merged),
    /// These members (indices) sent all they were asked, and the page may
    /// hold more of their names: the parts are given back to ask them again.
    Short(Fetched, Vec<usize>),
}

/// The merged page, ready to send.
struct Merged {
    body: Charged,
    link: Option<String>,
    /// Members left out, for `Warning` headers.
    failed: Vec<GatewayError>,
}

/// Reads every member's names out of its pages and merges them in zot's
/// order without duplicates, as far as the client's page. Names stay
/// borrowed from the pages, so the merge holds little beyond the text it
/// was sent. With `may_ask_again`, a page that may miss names of members
/// that sent all they were asked comes back [`Merge::Short`].
fn merge(fetched: Fetched, paging: &Paging, may_ask_again: bool) -> Result<Merge, GatewayError> {
    // Every name is a quoted string: half the quotes bound a member's count,
    // so the lists are charged before they are allocated, and never regrown.
    let quotes = |got: &Got| -> usize {
        let bodies = got.pages.iter();
        bodies
            .map(|body| body.iter().filter(|&&b| b == b'"').count())
            .sum()
    };
    let counts: Vec<usize> = fetched
        .pages
        .iter()
        .map(|(_, got)| quotes(got) / 2)
        .collect();
    // The lists, a sort's scratch of half as much again, and the page.
    let per_name = std::mem::size_of::<Name<'_>>() * 3 / 2 + std::mem::size_of::<&Name<'_>>();
    let mut index = fetched.charge.sibling();
    index.add(counts.iter().sum::<usize>() * per_name)?;
    let mut failed = Vec::new();
    let mut lists = Vec::with_capacity(fetched.pages.len());
    let mut members = Vec::with_capacity(fetched.pages.len());
    for ((i, got), count) in fetched.pages.iter().zip(counts) {
        let mut names = Vec::with_capacity(count);
        let read = got
            .pages
            .iter()
            .try_for_each(|body| names_into(body, &mut names));
        if let Err(e) = read {
            failed.push(GatewayError::BadMember {
                member: got.member.clone(),
                reason: format!("catalog is not a catalog: {e}"),
            });
            continue;
        }
        let full = got.cut.is_some_and(|asked| names.len() >= asked);
        lists.push(Listed { names, full });
        members.push(*i);
    }
    let any_failed = !(failed.is_empty() && fetched.failed.is_empty());
    if any_failed && !paging.partial {
        drop(lists);
        let mut all = fetched.failed;
        all.extend(failed);
        return Err(match all.len() {
            1 => all.remove(0),
            _ => GatewayError::Members(all),
        });
    }
    let (page, short) = page_of(&mut lists, &paging.last, paging.n);
    if may_ask_again && !short.is_empty() {
        let short = short.into_iter().map(|at| members[at]).collect();
        drop(page);
        drop(lists);
        return Ok(Merge::Short(fetched, short));
    }
    let link = paging::catalog_link(&page, paging.n);
    // The answer is charged apart, and held until it has been sent.
    let size = page.iter().map(|n| n.0.len() + 3).sum::<usize>() + 20;
    let mut out = fetched.charge.sibling();
    out.add(size)?;
    let mut body = Vec::with_capacity(size);
    // Strings written into memory: serde_json has no way to fail here.
    let _ = serde_json::to_writer(
        &mut body,
        &Answer {
            repositories: &page,
        },
    );
    drop(page);
    drop(lists);
    let Fetched {
        failed: mut left_out,
        ..
    } = fetched;
    left_out.extend(failed);
    Ok(Merge::Done(Merged {
        body: Charged::new(body.into(), out),
        link,
        failed: left_out,
    }))
}

/// One member's names, as the merge reads them.
pub(crate) struct Listed<'b> {
    pub(crate) names: Vec<Name<'b>>,
    /// It sent as many as it was asked: it may hold more.
    pub(crate) full: bool,
}

/// Merges members' names in zot's catalog order without duplicates and cuts
/// the client's page (`n`, `last`), reading no further than the page's end.
/// Also names the lists (by position) that are [`Listed::full`] and end
/// before the page does: their next names may belong on it.
pub(crate) fn page_of<'l, 'b>(
    lists: &'l mut [Listed<'b>],
    last: &str,
    n: i64,
) -> (Vec<&'l Name<'b>>, Vec<usize>) {
    // Each member sends its names in order (zot's, or distribution's byte
    // order, close to it): a stable sort checks that in one pass.
    for list in lists.iter_mut() {
        list.names.sort_by(|a, b| paging::catalog_order(&a.0, &b.0));
    }
    let lists = &*lists;
    let mut heads: BinaryHeap<Head<'l, 'b>> = (0..lists.len())
        .filter_map(|list| Head::at(lists, list, 0))
        .collect();
    let mut found = last.is_empty();
    let mut page = Vec::new();
    let mut previous: Option<&str> = None;
    while usize::try_from(n).map_or(true, |n| page.len() < n) {
        let Some(head) = heads.pop() else { break };
        heads.extend(Head::at(lists, head.list, head.at + 1));
        let name = head.name.0.as_ref();
        if previous.replace(name) == Some(name) {
            continue; // On two members, in a move.
        }
        if name == last {
            found = true;
        } else if found {
            page.push(head.name);
        } else if paging::catalog_order(name, last) == Ordering::Greater {
            break; // zot: a `last` that names no repository gives an empty page.
        }
    }
    let short = match usize::try_from(n) {
        // No page at all, an empty one, or one `last` leaves empty.
        Err(_) | Ok(0) => Vec::new(),
        Ok(_) if !found => Vec::new(),
        Ok(n) => {
            let end = (page.len() == n).then(|| page[n - 1].0.as_ref());
            let ends_before = |list: &Listed<'_>| match (list.names.last(), end) {
                (Some(tail), Some(end)) => paging::catalog_order(&tail.0, end) == Ordering::Less,
                _ => true,
            };
            (0..lists.len())
                .filter(|&list| lists[list].full && ends_before(&lists[list]))
                .collect()
        }
    };
    (page, short)
}

/// The next name of one member's list in the merge: the heap's top is the
/// first in zot's order (the earlier list on a tie, so duplicates pop in turn).
struct Head<'l, 'b> {
    name: &'l Name<'b>,
    list: usize,
    at: usize,
}

impl<'l, 'b> Head<'l, 'b> {
    fn at(lists: &'l [Listed<'b>], list: usize, at: usize) -> Option<Self> {
        let name = lists[list].names.get(at)?;
        Some(Self { name, list, at })
    }
}

impl Ord for Head<'_, '_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` pops its greatest.
        paging::catalog_order(&other.name.0, &self.name.0).then(other.list.cmp(&self.list))
    }
}

impl PartialOrd for Head<'_, '_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head<'_, '_> {}

#[derive(Serialize)]
struct Answer<'a, 'b> {
    repositories: &'a [&'a Name<'b>],
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
    pushed: Option<&Pushed>,
    charge: &mut Charge,
) -> Result<Part, GatewayError> {
    let member = gw.members.get(index).name.clone();
    let bad = |reason: String| GatewayError::BadMember {
        member: member.clone(),
        reason,
    };
    let mut pages = Vec::new();
    let mut path = pushed.map_or("/v2/_catalog", |p| &p.path).to_owned();
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
            _ => {
                return Ok(Part::Pages(Got {
                    member,
                    pages,
                    cut: pushed.filter(|_| honoured).map(|p| p.count),
                }))
            }
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
        cut(pages, None)
    }

    /// Members' parts, each a page pushed down for `count` names, if some.
    fn cut(pages: &[(&str, &[&str])], count: Option<usize>) -> Fetched {
        Fetched {
            pages: pages
                .iter()
                .enumerate()
                .map(|(i, (m, bodies))| {
                    let bodies = bodies.iter().map(|b| Bytes::from(b.to_string())).collect();
                    let got = Got {
                        member: m.to_string(),
                        pages: bodies,
                        cut: count,
                    };
                    (i, got)
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
        match merge(fetched, &paging, false)? {
            Merge::Done(merged) => Ok(merged),
            Merge::Short(..) => unreachable!("a merge that may not ask again is done"),
        }
    }

    /// The members a first merge would ask again.
    fn short(fetched: Fetched, paging: &Paging) -> Vec<usize> {
        match merge(fetched, paging, true) {
            Ok(Merge::Short(_, short)) => short,
            Ok(Merge::Done(_)) => Vec::new(),
            Err(e) => panic!("{e}"),
        }
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
    fn only_a_member_whose_share_may_hold_more_of_the_page_is_asked_again() {
        let paging = |last: &str, n| Paging {
            last: last.into(),
            n,
            partial: false,
        };
        // Shares of 3 names after `a`: m:0 sent its share (`a` and three
        // more), so may hold more, but its last, `d`, is past the page's end.
        let parts = || {
            cut(
                &[
                    ("m:0", &[r#"{"repositories":["a","b","c","d"]}"#]),
                    ("m:1", &[r#"{"repositories":["a-b"]}"#]),
                ],
                Some(4),
            )
        };
        assert!(short(parts(), &paging("a", 3)).is_empty());
        // A page of four ends at `d`: m:0 sent everything up to it.
        assert!(short(parts(), &paging("a", 4)).is_empty());
        // A page of five may hold m:0's next name.
        assert_eq!(short(parts(), &paging("a", 5)), [0]);
        // A page that comes up short may hold any full member's next.
        let two_full = || {
            cut(
                &[
                    ("m:0", &[r#"{"repositories":["a","b"]}"#]),
                    ("m:1", &[r#"{"repositories":["a","c"]}"#]),
                    ("m:2", &[r#"{"repositories":["a/x"]}"#]),
                ],
                Some(2),
            )
        };
        assert_eq!(short(two_full(), &paging("a", 4)), [0, 1]);
        // Only the member ending before the page's end: `b` < `c`.
        assert_eq!(short(two_full(), &paging("a", 3)), [0]);
        assert!(short(two_full(), &paging("a", 2)).is_empty());
        // Whole catalogs walked, or no page asked: nobody.
        assert!(short(
            fetched(&[("m:0", &[r#"{"repositories":["a","b"]}"#])]),
            &paging("", 5)
        )
        .is_empty());
        assert!(short(parts(), &paging("a", -1)).is_empty());
        assert!(short(parts(), &paging("a", 0)).is_empty());
    }

    #[test]
    fn a_member_that_fails_when_asked_again_is_left_out_whole() {
        let mut first = cut(
            &[
                ("m:0", &[r#"{"repositories":["a","b"]}"#]),
                ("m:1", &[r#"{"repositories":["a","c"]}"#]),
            ],
            Some(2),
        );
        let mut again = cut(&[], Some(5));
        again.failed.push(GatewayError::MemberTimeout {
            member: "m:0".into(),
            after: std::time::Duration::from_secs(1),
        });
        first.replace(again);
        let members: Vec<&str> = first.pages.iter().map(|(_, g)| g.member.as_str()).collect();
        assert_eq!(members, ["m:1"]);
        assert_eq!(first.failed.len(), 1);
        let page = merged(first, "a", 5, true).unwrap();
        assert_eq!(page.failed.len(), 1);
        assert_eq!(text(page), r#"{"repositories":["c"]}"#);
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
