//! Entry points for the fuzz targets in `fuzz/`: thin calls into the gateway's readers of client and member input that are otherwise private. Not an API.

use std::borrow::Cow;

use serde_json::Value;

use flotilla_protocol::graphql::error::GqlError;
use flotilla_protocol::graphql::normalize::{self, Request, Selected};
use flotilla_protocol::graphql::schema::SEARCH;
use flotilla_protocol::paging;

use crate::catalog::{self, Listed, Name};
use crate::config::{Limits, MetaDb, Placement};
use crate::placement::Ring;
use crate::search::deep;
use crate::search::merge::{self, FanOut, Part};
use crate::search::plan::{self, Strategy};
use crate::search::{limits, render, shape};

/// One member's catalog body as the merge reads it.
pub fn member_catalog(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    let mut names = Vec::new();
    catalog::names_into(body, &mut names)?;
    Ok(names.into_iter().map(|n| n.0.into_owned()).collect())
}

/// The next page a member's `Link` header points to, as the fan-out follows it.
pub fn member_catalog_link(
    link: &http::HeaderValue,
    member: &str,
) -> Result<Option<String>, String> {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::LINK, link.clone());
    catalog::next_page(&headers, member)
}

/// The members' catalogs merged in zot's order and paged by the client's
/// query, with the page's `Link`.
pub fn merged_catalog(
    members: Vec<Vec<String>>,
    query: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let mut lists: Vec<Listed<'_>> = members
        .iter()
        .map(|names| Listed {
            names: names
                .iter()
                .map(|n| Name(Cow::Borrowed(n.as_str())))
                .collect(),
            full: false,
        })
        .collect();
    let (last, n) = paging::catalog_params(query);
    let (page, _) = catalog::page_of(&mut lists, &last, n);
    let link = paging::catalog_link(&page, n);
    (
        page.iter()
            .map(|name| name.0.clone().into_owned())
            .collect(),
        link,
    )
}

/// The three members every plan is made for.
fn ring() -> Ring {
    let members = ["m0", "m1", "m2"].map(String::from).to_vec();
    Ring::new(Placement::Rendezvous, [0; 16], members)
}

/// One root field as the gateway plans it.
#[derive(Debug)]
pub struct Planned {
    pub field: Selected,
    /// The strategy, as `Debug` prints it.
    pub strategy: String,
    /// The documents members are sent for a fanned-out field: its rewritten
    /// query and, for a deep page, the first round's.
    pub member_queries: Vec<String>,
}

/// A client's request normalized and held to the default limits with the
/// built-in schema, then planned, as the gateway does before any member is asked.
pub fn plan(req: &Request) -> Result<Vec<Planned>, Vec<GqlError>> {
    let limits = Limits::default();
    let budget = flotilla_protocol::graphql::cost::Budget {
        fields: limits.search_fields,
        key: "limits.searchFields",
    };
    let fields = normalize::normalize(&SEARCH, req, &budget)?;
    if let Some(err) = limits::violation(&fields, &limits) {
        return Err(vec![err]);
    }
    let ring = ring();
    Ok(fields
        .into_iter()
        .map(|field| {
            let strategy = plan::strategy(&field, &ring, MetaDb::PerNode);
            let fan_out = match strategy {
                Strategy::FanOut(kind) => rewrite(&field, kind),
                _ => None,
            };
            let member_queries = fan_out.map_or_else(Vec::new, |plan| {
                let share = plan.share_query(plan.first_share(3));
                [Some(plan.rewritten.clone()), share, plan.all_query()]
                    .into_iter()
                    .flatten()
                    .map(|q| render::document(&SEARCH, &q))
                    .collect()
            });
            Planned {
                strategy: format!("{strategy:?}"),
                member_queries,
                field,
            }
        })
        .collect())
}

fn rewrite(field: &Selected, kind: plan::Merge) -> Option<FanOut> {
    let result_type = SEARCH
        .query_type()
        .field(&field.name)
        .map(|f| f.ty.base().to_owned())
        .unwrap_or_default();
    merge::rewrite(field, kind, &result_type)
}

/// What the merges of one fanned-out field made of the members' answers.
#[derive(Debug)]
pub struct Merged {
    /// The one-phase merge.
    pub whole: Result<Value, String>,
    /// For a deep page of costly items, the merge of the answers taken as
    /// both the keys and the windows (`Ok(None)`: a window changed).
    pub windowed: Option<Result<Option<Value>, String>>,
    /// The second-phase documents of those windows.
    pub window_queries: Vec<String>,
}

/// Members' answers (each member's `data[key]`) to a root field merged as
/// the gateway merges them; `None` when the field does not fan out.
pub fn merge(field: &Selected, answers: Vec<Value>) -> Option<Merged> {
    let Strategy::FanOut(kind) = plan::strategy(field, &ring(), MetaDb::PerNode) else {
        return None;
    };
    let plan = rewrite(field, kind)?;
    // As `ask` does: an answer that does not fit the schema is that member's
    // error and never reaches the merge.
    let parts: Vec<Part> = answers
        .into_iter()
        .filter(|value| shape::check(&SEARCH, &plan.rewritten, value).is_ok())
        .enumerate()
        .map(|(member, value)| Part { member, value })
        .collect();
    let whole = merge::merge(&plan, &parts);
    let ranked = deep::ranking(&plan, &parts);
    if let Ok(ranked) = &ranked {
        let _ = deep::short(&plan, &parts, ranked);
    }
    let mut window_queries = Vec::new();
    let windowed = plan.windowed().then(|| {
        let windows = deep::windows(&plan, ranked.as_ref().map_err(Clone::clone)?);
        window_queries = windows
            .iter()
            .map(|w| render::document(&SEARCH, &plan.window_query(w)))
            .collect();
        deep::merge_windows(&plan, &parts, &windows, &parts)
    });
    Some(Merged {
        whole,
        windowed,
        window_queries,
    })
}
