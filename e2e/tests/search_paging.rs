//! `requestedPage` cuts lists exactly as zot's page finder does: every row of zot-reference §1.3.2's
//! table, for `ImageList`, `RepoListWithNewestImage` and `GlobalSearch` (repositories and images).
//!
//! Pages are cut after sorting, so each list is sorted alphabetically here:
//! the expected page is then a slice of the whole, alphabetic list. A last,
//! property-style test asks for random `limit`/`offset`/`sortBy` and checks
//! each page against a model of zot's cut of the whole list.

use anyhow::{ensure, Result};
use flotilla_e2e::search_fixture::{column, image_names, Fixture, ADMIN};
use serde_json::{json, Value};

/// One paginated query: how to ask for a page, and where its items and `Page` are.
struct Paged {
    name: &'static str,
    field: &'static str,
    list: &'static str,
    query: fn(&str) -> String,
}

const QUERIES: [Paged; 4] = [
    Paged {
        name: "ImageList",
        field: "ImageList",
        list: "Results",
        query: |page| {
            format!("{{ImageList(repo:\"\" {page}){{Page{{TotalCount ItemCount}} Results{{RepoName Tag}}}}}}")
        },
    },
    Paged {
        name: "RepoListWithNewestImage",
        field: "RepoListWithNewestImage",
        list: "Results",
        // `()` is no valid argument list: no page, no parentheses.
        query: |page| {
            let args = if page.is_empty() {
                String::new()
            } else {
                format!("({page})")
            };
            format!(
                "{{RepoListWithNewestImage{args}{{Page{{TotalCount ItemCount}} Results{{Name}}}}}}"
            )
        },
    },
    Paged {
        name: "GlobalSearch for repositories",
        field: "GlobalSearch",
        list: "Repos",
        query: |page| {
            format!(
                "{{GlobalSearch(query:\"\" {page}){{Page{{TotalCount ItemCount}} Repos{{Name}}}}}}"
            )
        },
    },
    Paged {
        name: "GlobalSearch for tags",
        field: "GlobalSearch",
        list: "Images",
        query: |page| {
            format!("{{GlobalSearch(query:\":v\" {page}){{Page{{TotalCount ItemCount}} Images{{RepoName Tag}}}}}}")
        },
    },
];

impl Paged {
    /// The items (`repo:tag` or repository names) and the `Page` of one answer.
    fn page(&self, fixture: &Fixture, page: &str) -> Result<(Vec<String>, Value)> {
        let data = fixture.as_admin().data(&(self.query)(page))?;
        let list = &data[self.field][self.list];
        let items = if self.list == "Repos" || self.field == "RepoListWithNewestImage" {
            column(list, "Name")
        } else {
            image_names(list)
        };
        Ok((items, data[self.field]["Page"].clone()))
    }

    /// The whole list, sorted: what every page is a slice of.
    fn everything(&self, fixture: &Fixture) -> Result<Vec<String>> {
        let (all, page) = self.page(fixture, &sorted(0, 0))?;
        ensure!(
            page["TotalCount"] == all.len() && all.len() > 5,
            "{}: {page} for {} items",
            self.name,
            all.len()
        );
        Ok(all)
    }

    /// The error a negative limit or offset gets.
    fn negative_error(&self, what: &str) -> String {
        if self.field == "GlobalSearch" {
            format!("requested page {what} parameter can't be negative request parameter has invalid value")
        } else {
            format!("pagination {what} has negative value")
        }
    }
}

fn sorted(limit: i64, offset: i64) -> String {
    format!(", requestedPage:{{limit:{limit} offset:{offset} sortBy:ALPHABETIC_ASC}}")
}

fn page_info(total: usize, items: usize) -> Value {
    json!({ "TotalCount": total, "ItemCount": items })
}

#[test]
fn limit_zero_and_offset_zero_return_everything() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let (all, page) = paged.page(&fixture, &sorted(0, 0))?;
        // 44 tags, 30 repositories, 11 tags with a `v`.
        let expected = match (paged.field, paged.list) {
            ("ImageList", _) => 44,
            (_, "Images") => 11,
            _ => 30,
        };

        assert_eq!(all.len(), expected, "{}: {all:?}", paged.name);
        assert_eq!(page, page_info(expected, expected), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn no_requested_page_returns_everything() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let mut all = paged.everything(&fixture)?;
        all.sort();

        let (mut got, page) = paged.page(&fixture, "")?;
        got.sort();

        assert_eq!(got, all, "{}", paged.name);
        assert_eq!(page, page_info(all.len(), all.len()), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn a_limit_returns_the_first_items() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let all = paged.everything(&fixture)?;

        let (got, page) = paged.page(&fixture, &sorted(5, 0))?;

        assert_eq!(got, all[..5], "{}", paged.name);
        assert_eq!(page, page_info(all.len(), 5), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn a_limit_and_an_offset_return_the_items_from_the_offset_on() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let all = paged.everything(&fixture)?;

        let (middle, middle_page) = paged.page(&fixture, &sorted(3, 2))?;
        let (tail, tail_page) = paged.page(&fixture, &sorted(5, all.len() as i64 - 2))?;

        assert_eq!(middle, all[2..5], "{}", paged.name);
        assert_eq!(middle_page, page_info(all.len(), 3), "{}", paged.name);
        assert_eq!(
            tail,
            all[all.len() - 2..],
            "{}: the last page is short",
            paged.name
        );
        assert_eq!(tail_page, page_info(all.len(), 2), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn a_limit_beyond_the_end_returns_everything() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let all = paged.everything(&fixture)?;

        let (got, page) = paged.page(&fixture, &sorted(1000, 0))?;

        assert_eq!(got, all, "{}", paged.name);
        assert_eq!(page, page_info(all.len(), all.len()), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn an_offset_at_or_past_the_end_returns_nothing_but_the_total() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let all = paged.everything(&fixture)?;

        for offset in [all.len(), all.len() + 7] {
            let (got, page) = paged.page(&fixture, &sorted(5, offset as i64))?;

            assert!(got.is_empty(), "{} at offset {offset}: {got:?}", paged.name);
            assert_eq!(
                page,
                page_info(all.len(), 0),
                "{} at offset {offset}",
                paged.name
            );
        }
    }
    Ok(())
}

#[test]
fn limit_zero_with_an_offset_returns_nothing_but_the_total() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let all = paged.everything(&fixture)?;

        // zot's quirk: start = end = offset, so not "the rest of the list".
        let (got, page) = paged.page(&fixture, &sorted(0, 3))?;

        assert!(got.is_empty(), "{}: {got:?}", paged.name);
        assert_eq!(page, page_info(all.len(), 0), "{}", paged.name);
    }
    Ok(())
}

#[test]
fn an_empty_list_has_a_zero_page_whatever_is_asked() -> Result<()> {
    let fixture = Fixture::start()?;
    let queries = [
        ("ImageList", "{ImageList(repo:\"no/such/repo\", requestedPage:{limit:5 offset:2}){Page{TotalCount ItemCount} Results{Tag}}}", "Results"),
        ("GlobalSearch", "{GlobalSearch(query:\"no-such-name\", requestedPage:{limit:0 offset:0}){Page{TotalCount ItemCount} Repos{Name}}}", "Repos"),
        ("GlobalSearch", "{GlobalSearch(query:\":no-such-tag\", requestedPage:{limit:5 offset:5}){Page{TotalCount ItemCount} Images{Tag}}}", "Images"),
    ];

    for (field, query, list) in queries {
        let data = fixture.as_admin().data(query)?;

        assert_eq!(data[field][list], json!([]), "{query}");
        assert_eq!(data[field]["Page"], page_info(0, 0), "{query}");
    }
    Ok(())
}

#[test]
fn a_negative_limit_is_an_error() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let answer = fixture.as_admin().get(&(paged.query)(&sorted(-1, 0)))?;

        answer.ensure_resolver_error(paged.field, &paged.negative_error("limit"))?;
    }
    Ok(())
}

#[test]
fn a_negative_offset_is_an_error() -> Result<()> {
    let fixture = Fixture::start()?;
    for paged in &QUERIES {
        let answer = fixture.as_admin().get(&(paged.query)(&sorted(3, -2)))?;

        answer.ensure_resolver_error(paged.field, &paged.negative_error("offset"))?;
    }
    Ok(())
}

#[test]
fn pages_count_only_what_the_caller_may_read() -> Result<()> {
    let fixture = Fixture::start()?;

    let dev = fixture.as_dev().data(&(QUERIES[0].query)(&sorted(2, 0)))?;
    let anonymous = fixture
        .anonymous()
        .data(&(QUERIES[1].query)(&sorted(2, 0)))?;

    assert_eq!(dev["ImageList"]["Page"], page_info(13, 2));
    assert_eq!(
        anonymous["RepoListWithNewestImage"]["Page"],
        page_info(9, 2)
    );
    assert_eq!(
        fixture.images_for(Some(ADMIN.0)).len(),
        44,
        "the fixture itself changed"
    );
    Ok(())
}

/// A sort and, for each item of an answer, the key zot sorts by; equal
/// keys may come in any order, so pages are compared by key.
struct Sort {
    name: &'static str,
    key: fn(&Value) -> String,
}

fn image_sorts() -> Vec<Sort> {
    vec![
        Sort {
            name: "RELEVANCE",
            key: |i| format!("{}:{}", i["RepoName"], i["Tag"]),
        },
        Sort {
            name: "ALPHABETIC_ASC",
            key: |i| format!("{}:{}", i["RepoName"], i["Tag"]),
        },
        Sort {
            name: "ALPHABETIC_DSC",
            key: |i| format!("{}:{}", i["RepoName"], i["Tag"]),
        },
        Sort {
            name: "UPDATE_TIME",
            key: |i| i["LastUpdated"].to_string(),
        },
        Sort {
            name: "DOWNLOADS",
            key: |i| i["DownloadCount"].to_string(),
        },
    ]
}

fn repo_sorts() -> Vec<Sort> {
    vec![
        Sort {
            name: "RELEVANCE",
            key: |r| r["Rank"].to_string(),
        },
        Sort {
            name: "ALPHABETIC_ASC",
            key: |r| r["Name"].to_string(),
        },
        Sort {
            name: "ALPHABETIC_DSC",
            key: |r| r["Name"].to_string(),
        },
        Sort {
            name: "UPDATE_TIME",
            key: |r| r["LastUpdated"].to_string(),
        },
        Sort {
            name: "DOWNLOADS",
            key: |r| r["DownloadCount"].to_string(),
        },
    ]
}

/// xorshift64*: a fixed seed, so a failure repeats (override with
/// `FLOTILLA_PAGING_SEED`).
struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    }
}

/// zot's page cut (zot-reference §1.3.2) of `all`.
fn zot_page<T: Clone>(all: &[T], limit: usize, offset: usize) -> Vec<T> {
    let len = all.len();
    let (mut start, mut end) = (offset, offset + limit);
    if start >= len {
        start = len;
        end = len;
    }
    end = end.min(len);
    if start == 0 && end == 0 {
        return all.to_vec();
    }
    all[start..end].to_vec()
}

#[test]
fn random_pages_match_zots_page_cutting_rule() -> Result<()> {
    let fixture = Fixture::start()?;
    let seed = std::env::var("FLOTILLA_PAGING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f107_111a_u64);
    let mut random = Random(seed);
    let lists: [(&str, &str, &str, Vec<Sort>); 3] = [
        ("ImageList", "Results", "ImageList(repo:\"\" requestedPage:{PAGE}){Page{TotalCount ItemCount} Results{RepoName Tag LastUpdated DownloadCount}}", image_sorts()),
        ("RepoListWithNewestImage", "Results", "RepoListWithNewestImage(requestedPage:{PAGE}){Page{TotalCount ItemCount} Results{Name LastUpdated DownloadCount Rank}}", repo_sorts()),
        ("GlobalSearch", "Repos", "GlobalSearch(query:\"a\" requestedPage:{PAGE}){Page{TotalCount ItemCount} Repos{Name LastUpdated DownloadCount Rank}}", repo_sorts()),
    ];

    for (field, list, template, sorts) in &lists {
        for sort in sorts {
            let ask = |page: String| -> Result<(Vec<String>, Value)> {
                let query = format!("{{{}}}", template.replace("PAGE", &page));
                let data = fixture.as_admin().data(&query)?;
                let items = data[field][list].as_array().cloned().unwrap_or_default();
                Ok((
                    items.iter().map(sort.key).collect(),
                    data[field]["Page"].clone(),
                ))
            };
            let (all, _) = ask(format!("limit:0 offset:0 sortBy:{}", sort.name))?;
            for case in 0..12 {
                let (limit, offset) = (random.below(all.len() + 6), random.below(all.len() + 6));

                let (page, info) = ask(format!(
                    "limit:{limit} offset:{offset} sortBy:{}",
                    sort.name
                ))?;

                let expected = zot_page(&all, limit, offset);
                let context = format!(
                    "{field} sortBy:{} limit:{limit} offset:{offset} (seed {seed}, case {case})",
                    sort.name
                );
                assert_eq!(page, expected, "{context}");
                assert_eq!(info, page_info(all.len(), expected.len()), "{context}");
            }
        }
    }
    Ok(())
}
