//! The oracle on a seeded generated corpus of requests: list fields × filters × `sortBy` × pages ×
//! users × aliases, drawn from a fixed seed (so a failure reproduces), answer alike from one node and
//! from 2, 3 and 5 members.
//!
//! Ties as in `ListQuery::case`: `UPDATE_TIME` on `LastUpdated`,
//! `DOWNLOADS` on the count, `RELEVANCE` over repositories on rank.

use anyhow::Result;
use flotilla_e2e::oracle::{Case, ListQuery, Oracle, SIZES, USERS};

const SEED: u64 = 0x0ac1_e5ee_d000_0005;
const CASES: usize = 120;
const SORTS: [Option<&str>; 6] = [
    None,
    Some("RELEVANCE"),
    Some("UPDATE_TIME"),
    Some("ALPHABETIC_ASC"),
    Some("ALPHABETIC_DSC"),
    Some("DOWNLOADS"),
];
const LIMITS: [Option<u32>; 5] = [None, Some(0), Some(1), Some(3), Some(7)];
const OFFSETS: [Option<u32>; 6] = [None, Some(0), Some(1), Some(4), Some(11), Some(500)];
const FILTERS: [&str; 6] = [
    "",
    ", filter: {Os: [\"linux\"]}",
    ", filter: {Arch: [\"arm64\", \"arm\"]}",
    ", filter: {HasToBeSigned: true}",
    ", filter: {IsStarred: false}",
    ", filter: {Os: [\"windows\", \"linux\"], Arch: [\"amd64\"]}",
];
const SEARCHES: [&str; 6] = ["", "gen", "alp", "team-a/gen/", ":v", ":v0"];

struct Rng(u64);

impl Rng {
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        from[(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % from.len()]
    }
}

fn field(rng: &mut Rng) -> ListQuery {
    let images =
        "{Page {TotalCount ItemCount} Results {RepoName Tag LastUpdated DownloadCount Digest}}";
    let repos = "{Page {TotalCount ItemCount} Results {Name LastUpdated DownloadCount StarCount}}";
    match rng.pick(&[0, 1, 2, 3]) {
        0 => list(
            "ImageList",
            "repo: \"\"".into(),
            "Results",
            images,
            false,
            "",
        ),
        1 => list(
            "RepoListWithNewestImage",
            String::new(),
            "Results",
            repos,
            true,
            "",
        ),
        2 => list("StarredRepos", String::new(), "Results", repos, true, ""),
        _ => {
            let search = rng.pick(&SEARCHES);
            let args = format!("query: \"{search}\"{}", rng.pick(&FILTERS));
            if search.starts_with(':') {
                let selection =
                    "{Page {TotalCount ItemCount} Images {RepoName Tag LastUpdated DownloadCount}}";
                list("GlobalSearch", args, "Images", selection, false, search)
            } else {
                let selection =
                    "{Page {TotalCount ItemCount} Repos {Name LastUpdated DownloadCount}}";
                list("GlobalSearch", args, "Repos", selection, true, search)
            }
        }
    }
}

fn list(
    field: &'static str,
    args: String,
    list: &'static str,
    selection: &str,
    repos: bool,
    search: &str,
) -> ListQuery {
    let default_sort = match field {
        "RepoListWithNewestImage" | "StarredRepos" => "UPDATE_TIME",
        _ => "RELEVANCE",
    };
    ListQuery {
        field,
        args,
        list,
        selection: selection.to_owned(),
        repos,
        search: search.to_owned(),
        default_sort,
    }
}

fn corpus() -> Vec<Case> {
    let mut rng = Rng(SEED);
    (0..CASES)
        .map(|i| {
            let query = field(&mut rng);
            let (limit, offset, sort) = (rng.pick(&LIMITS), rng.pick(&OFFSETS), rng.pick(&SORTS));
            let mut case = query.case(rng.pick(&USERS), limit, offset, sort);
            case.name = format!("#{i} {}", case.name);
            case
        })
        .collect()
}

#[test]
fn a_seeded_corpus_of_list_requests_answers_alike() -> Result<()> {
    let oracle = Oracle::start(&SIZES)?;

    oracle.ensure_alike(&corpus())
}
