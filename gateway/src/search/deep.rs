//! Deep pages: a page past the first items costs each member its share of the items up to the page's end, not all of them.
//!
//! Placement spreads repositories evenly, so of the first `offset + limit`
//! items each of N members holds about 1/N: each is first asked that share
//! plus room for an uneven spread ([`FanOut::first_share`]); one that may hold
//! more is asked again for everything up to the page's end ([`short`]). Items
//! of scalars come whole in that first round; items with nested objects come
//! as keys, then each member is asked for its window of whole items
//! ([`windows`], [`merge_windows`]).

use std::cmp::Ordering;

use serde_json::{json, Value};

use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::Selected;
use flotilla_protocol::search::paging::{Criteria, Page};

use super::ask::{gather, merge_error, Answer};
use super::merge::{
    comparator, list_keys, merge, merge_page, ranked, reserved_keys, total_of, Deep, FanOut, Keys,
    Part, Ranked, RESERVED,
};
use super::plan::Merge;
use crate::client::Client;
use crate::placement;
use crate::state::Gateway;

/// The members whose first keys may not hold all their items up to
/// the page's end: each that has more items than it sent, unless its last
/// item ranks after the page's last on the sort's own key (a tie, which
/// zot breaks in no set order, is not enough).
pub(crate) fn short(
    plan: &FanOut,
    keys: &[Part],
    ranked: &Ranked<'_>,
) -> Result<Vec<usize>, String> {
    let names = reserved_keys(plan.merge);
    let list = plan.ranked_key();
    let order = comparator(plan.merge, plan.page.sort_by)?;
    let last_on_page = ranked.get(plan.end().saturating_sub(1)).map(|r| &r.0);
    let mut short = Vec::new();
    for part in keys {
        let items = part.value.get(&list).and_then(Value::as_array);
        let sent = items.map_or(0, Vec::len);
        if total_of(part) <= sent as i64 {
            continue; // It sent everything it has.
        }
        let last = items
            .and_then(|items| items.last())
            .map(|item| Keys::of(item, &names, plan.merge));
        let after = match (last, last_on_page) {
            (Some(last), Some(page)) => {
                order(&last, page) == Ordering::Greater && !tie(plan, &last, page)
            }
            _ => false,
        };
        if !after {
            short.push(part.member);
        }
    }
    Ok(short)
}

/// Whether two items tie on what zot's sort reads, before the identity
/// that the gateway and its nodes break ties with.
fn tie(plan: &FanOut, a: &Keys<'_>, b: &Keys<'_>) -> bool {
    match (plan.page.sort_by, plan.merge) {
        (Criteria::UpdateTime, _) => a.updated == b.updated,
        (Criteria::Downloads, _) => a.downloads == b.downloads,
        (Criteria::Relevance, Merge::Repos) => a.rank == b.rank,
        _ => a.identity == b.identity,
    }
}

/// Where the page's items sit in one member's own order: the part of its
/// list to ask for in the second phase, and which of those items the page keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) member: usize,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    /// Positions in the window, each with the identity phase one saw there.
    keep: Vec<(usize, (String, String))>,
}

/// The first round's items in the fleet's order, ranked once for both
/// [`short`] and [`windows`].
pub(crate) fn ranking<'a>(plan: &FanOut, keys: &'a [Part]) -> Result<Ranked<'a>, String> {
    ranked(plan, keys, &plan.ranked_key(), &reserved_keys(plan.merge))
}

/// From the members' keys-only answers ([`ranking`]), the windows of the
/// second phase. A member's page items are contiguous in its own order
/// unless duplicates of other members' items fell between them; a window
/// spans those too.
pub(crate) fn windows(plan: &FanOut, items: &Ranked<'_>) -> Vec<Window> {
    let mut windows: Vec<Window> = Vec::new();
    for (k, member, position, _) in &items[plan.page.range(items.len())] {
        let identity = (k.identity.0.to_owned(), k.identity.1.to_owned());
        match windows.iter_mut().find(|w| w.member == *member) {
            Some(w) => w.keep.push((*position, identity)),
            None => windows.push(Window {
                member: *member,
                offset: 0,
                limit: 0,
                keep: vec![(*position, identity)],
            }),
        }
    }
    for w in &mut windows {
        // Positions ascend when the member sorts as zot's comparator does;
        // min and max keep the window right even if it does not.
        let first = w.keep.iter().map(|(p, _)| *p).min().unwrap_or(0);
        let last = w.keep.iter().map(|(p, _)| *p).max().unwrap_or(0);
        w.offset = first;
        w.limit = last - first + 1;
        for (p, _) in &mut w.keep {
            *p -= first;
        }
    }
    windows.sort_by_key(|w| w.member);
    windows
}

impl FanOut {
    /// The items up to the page's end: what one member would have to send
    /// were all of them its own.
    fn end(&self) -> usize {
        usize::try_from(self.page.offset.saturating_add(self.page.limit)).unwrap_or(usize::MAX)
    }

    /// How many items' keys each of `members` is first asked for: its
    /// [`placement::first_share`] of the items up to the page's end. A
    /// member that may hold more of them than that is asked again ([`short`]).
    pub(crate) fn first_share(&self, members: usize) -> usize {
        placement::first_share(self.end(), members)
    }

    /// A deep page's first query for one member: its first `limit` items
    /// (or their keys).
    pub(crate) fn share_query(&self, limit: usize) -> Option<Selected> {
        let mut q = match self.deep.as_ref()? {
            Deep::Whole => self.rewritten.clone(),
            Deep::Keys(q) => q.clone(),
        };
        if let Some(page) = q.args.get_mut("requestedPage") {
            page["limit"] = json!(limit);
        }
        Some(q)
    }

    /// The first query again, for a member found [`short`]: everything up to the page's end.
    pub(crate) fn all_query(&self) -> Option<Selected> {
        self.share_query(self.end())
    }

    /// Whether the deep page's items come from [`windows`], after the keys.
    pub(crate) fn windowed(&self) -> bool {
        matches!(self.deep, Some(Deep::Keys(_)))
    }

    /// The key under which the first query's answers hold the ranked list.
    fn ranked_key(&self) -> String {
        if self.windowed() {
            format!("{RESERVED}{}", self.list_field)
        } else {
            list_keys(self).remove(0)
        }
    }

    /// The second phase for one member: its window of whole items, as the
    /// client selected them (keys included, to check them against phase one).
    pub(crate) fn window_query(&self, w: &Window) -> Selected {
        let mut q = self.rewritten.clone();
        if let Some(page) = q.args.get_mut("requestedPage") {
            page["offset"] = json!(w.offset);
            page["limit"] = json!(w.limit);
        }
        q
    }
}

/// Merges a two-phase fan-out: the page's items from each member's window,
/// the counts from phase one. `Ok(None)` when a window no longer holds what
/// phase one saw there (the member changed in between): the caller asks again in one phase.
pub(crate) fn merge_windows(
    plan: &FanOut,
    keys: &[Part],
    windows: &[Window],
    items: &[Part],
) -> Result<Option<Value>, String> {
    let names = reserved_keys(plan.merge);
    let total_at = format!("/{RESERVED}Page/{RESERVED}TotalCount");
    let mut parts = Vec::with_capacity(keys.len());
    for part in keys {
        let window = windows.iter().find(|w| w.member == part.member);
        let Some(window) = window else {
            // Nothing of this member's is on the page: it adds its count only.
            parts.push(Part {
                member: part.member,
                value: part.value.clone(),
            });
            continue;
        };
        let Some(answer) = items.iter().find(|p| p.member == part.member) else {
            return Ok(None);
        };
        let mut value = answer.value.clone();
        for key in list_keys(plan) {
            let Some(list) = value.get_mut(&key).and_then(Value::as_array_mut) else {
                continue;
            };
            let mut kept = Vec::with_capacity(window.keep.len());
            for (position, identity) in &window.keep {
                let item = list.get(*position);
                let same = item.is_some_and(|item| {
                    let k = Keys::of(item, &names, plan.merge);
                    k.identity == (identity.0.as_str(), identity.1.as_str())
                });
                if !same {
                    return Ok(None);
                }
                kept.push(item.cloned().unwrap_or(Value::Null));
            }
            *list = kept;
        }
        if let (Some(slot), Some(total)) =
            (value.pointer_mut(&total_at), part.value.pointer(&total_at))
        {
            *slot = total.clone();
        }
        parts.push(Part {
            member: part.member,
            value,
        });
    }
    // What is left is the page itself, in order: cut from its start.
    let page = Page {
        offset: 0,
        ..plan.page
    };
    merge_page(plan, page, &parts, None).map(Some)
}

/// What a deep page's rounds came to.
pub(super) enum Rounds {
    Answered(Answer),
    /// The page is to be asked in one phase of these members: one was lost
    /// between the rounds, or a window changed under the page.
    OnePhase(Vec<usize>),
}

/// Asks a deep page of every member in rounds; `errors` gathers the
/// members that could not answer.
pub(super) async fn fan_out(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
    plan: &FanOut,
    errors: &mut Vec<GqlError>,
) -> Rounds {
    let members: Vec<usize> = (0..gw.members.len()).collect();
    let share = plan.first_share(members.len());
    let (Some(first), Some(all)) = (plan.share_query(share), plan.all_query()) else {
        return Rounds::OnePhase(members);
    };
    let mut keys = match gather(gw, client, parts, (plan, "share"), &members, |_| {
        first.clone()
    })
    .await
    {
        Ok(mut keys) => {
            errors.append(&mut keys.errors);
            keys.parts
        }
        Err(answer) => return Rounds::Answered(answer),
    };
    if keys.is_empty() {
        // No member answered: there is nothing to merge, only the reasons.
        return Rounds::Answered(Answer::Data(None, std::mem::take(errors)));
    }
    // Members holding more of the items before the page than their
    // share send the keys up to the page's end.
    // Ranked once; again only if members are asked again.
    let first = ranking(plan, &keys).and_then(|ranked| {
        let more = short(plan, &keys, &ranked)?;
        let settled = (more.is_empty() && plan.windowed()).then(|| windows(plan, &ranked));
        Ok((more, settled))
    });
    let (more, settled) = match first {
        Ok(first) => first,
        Err(message) => return Rounds::Answered(merge_error(field, message)),
    };
    if !more.is_empty() {
        let mut again = match gather(gw, client, parts, (plan, "share_again"), &more, |_| {
            all.clone()
        })
        .await
        {
            Ok(again) => again,
            Err(answer) => return Rounds::Answered(answer),
        };
        errors.append(&mut again.errors);
        keys.retain(|p| !more.contains(&p.member));
        keys.append(&mut again.parts);
        keys.sort_by_key(|p| p.member);
    }
    if !plan.windowed() {
        // Whole items: every member's up to the page's end are here.
        return Rounds::Answered(match merge(plan, &keys) {
            Ok(value) => Answer::Data(Some(value), std::mem::take(errors)),
            Err(message) => merge_error(field, message),
        });
    }
    let windows = match settled.map_or_else(|| ranking(plan, &keys).map(|r| windows(plan, &r)), Ok)
    {
        Ok(windows) => windows,
        Err(message) => return Rounds::Answered(merge_error(field, message)),
    };
    let asked: Vec<usize> = windows.iter().map(|w| w.member).collect();
    let window_query = |i: usize| plan.window_query(&windows[i]);
    let mut items = match gather(gw, client, parts, (plan, "window"), &asked, window_query).await {
        Ok(items) => items,
        Err(answer) => return Rounds::Answered(answer),
    };
    if items.failed.is_empty() {
        match merge_windows(plan, &keys, &windows, &items.parts) {
            Ok(Some(value)) => {
                return Rounds::Answered(Answer::Data(Some(value), std::mem::take(errors)))
            }
            Ok(None) => {}
            Err(message) => return Rounds::Answered(merge_error(field, message)),
        }
    }
    // A member lost between the phases, or a window that changed under
    // the page: asked again in one phase, so that no member's count is
    // included without its items.
    errors.append(&mut items.errors);
    Rounds::OnePhase(
        keys.iter()
            .map(|p| p.member)
            .filter(|m| !items.failed.contains(m))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
