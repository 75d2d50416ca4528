//! Fan-outs in the migration window: a repository found on both its owner and its previous owner is counted once, from the one that holds it whole.
//!
//! While a rebalance moves a repository, both owners may list it: the owner
//! a partial copy while its tags arrive, the previous owner a partial one
//! while its copy is deleted. Which one holds it whole is
//! [`crate::window::authority`]'s rule (the owner once it holds every tag
//! the previous owner holds). The other's items for that repository are
//! dropped before the merge.
//!
//! Dropping items breaks the page arithmetic that pushes `offset` and
//! `limit` down to members (a member's first `offset + limit` items may
//! then be too few, and the members' totals count the copy twice). So in
//! the window every member is asked for all its items, and the page and its
//! `TotalCount` are the gateway's own: a fan-out costs each member a whole
//! list, for as long as the window is open, and is exact throughout.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;
use serde_json::{json, Value};

use flotilla_protocol::graphql::normalize::Selected;

use super::ask::{gather, merge_error, Answer};
use super::merge::{self, list_keys, reserved_keys, FanOut, Part};
use crate::client::Client;
use crate::placement::Owners;
use crate::state::Gateway;
use crate::window;

pub(super) async fn fan_out(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    field: &Selected,
    plan: &FanOut,
) -> Answer {
    let mut whole = plan.rewritten.clone();
    let mut page = whole
        .args
        .get("requestedPage")
        .cloned()
        .unwrap_or_else(|| json!({}));
    // zot's `limit: 0` is every item.
    page["offset"] = json!(0);
    page["limit"] = json!(0);
    whole.args.insert("requestedPage".into(), page);
    let members: Vec<usize> = (0..gw.members.len()).collect();
    let mut gathered = match gather(gw, client, parts, (plan, "migration"), &members, |_| {
        whole.clone()
    })
    .await
    {
        Ok(gathered) => gathered,
        Err(answer) => return answer,
    };
    if gathered.parts.is_empty() {
        return Answer::Data(None, gathered.errors);
    }
    let chosen = authorities(gw, client, parts, plan, &gathered.parts).await;
    let repo_key = reserved_keys(plan.merge).swap_remove(0);
    for part in &mut gathered.parts {
        for key in list_keys(plan) {
            if let Some(Value::Array(items)) = part.value.get_mut(&key) {
                items.retain(|item| {
                    let repo = item.get(&repo_key).and_then(Value::as_str);
                    repo.and_then(|r| chosen.get(r))
                        .is_none_or(|&m| m == part.member)
                });
            }
        }
    }
    let keep_all = |_: &Value| true;
    match merge::merge_filtered(plan, &gathered.parts, Some(&keep_all)) {
        Ok(value) => Answer::Data(Some(value), gathered.errors),
        Err(message) => merge_error(field, message),
    }
}

/// For each repository listed by both its owner and its previous owner: the member that answers for it.
async fn authorities(
    gw: &Gateway,
    client: &Client,
    parts: &http::request::Parts,
    plan: &FanOut,
    answers: &[Part],
) -> HashMap<String, usize> {
    let repo_key = reserved_keys(plan.merge).swap_remove(0);
    let mut holders: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    for part in answers {
        for key in list_keys(plan) {
            for item in part
                .value
                .get(&key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(repo) = item.get(&repo_key).and_then(Value::as_str) {
                    holders.entry(repo).or_default().insert(part.member);
                }
            }
        }
    }
    let contested: Vec<(&str, (usize, usize))> = holders
        .into_iter()
        .filter_map(|(repo, on)| match gw.owners(repo) {
            (owner, Some(previous)) if on.contains(&owner) && on.contains(&previous) => {
                Some((repo, (owner, previous)))
            }
            _ => None,
        })
        .collect();
    let decided = join_all(
        contested
            .iter()
            .map(|&(repo, pair)| window::authority(gw, client, parts, repo, pair)),
    )
    .await;
    contested
        .into_iter()
        .map(|(repo, _)| repo.to_owned())
        .zip(decided)
        .collect()
}
