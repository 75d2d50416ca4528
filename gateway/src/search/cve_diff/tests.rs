//! The diff on recorded `CVEListForImage` answers, shaped as zot's resolver writes them: no network.

use flotilla_protocol::graphql::normalize::normalize_query;
use flotilla_protocol::graphql::schema::SEARCH;

use super::*;
use crate::search::render;

/// One CVE as zot's trivy scanner records it (`scanner.go`): every string
/// set, `Not Specified` where trivy has no fix or path.
fn cve(id: &str, severity: &str) -> Value {
    json!({
        "Id": id,
        "Title": format!("{id} in openssl"),
        "Description": format!("A flaw in openssl ({id})."),
        "Reference": format!("https://avd.aquasec.com/nvd/{}", id.to_lowercase()),
        "Severity": severity,
        "PackageList": [{
            "Name": "openssl",
            "PackagePath": "Not Specified",
            "InstalledVersion": "3.1.4-r0",
            "FixedVersion": "Not Specified",
        }],
    })
}

/// A member's `data.CVEListForImage`, unpaged, as `getCVEListForImage` fills it.
fn scanned(cves: &[Value]) -> Answer {
    let answer = json!({
        "Tag": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "CVEList": cves,
        "Summary": {"MaxSeverity": "CRITICAL", "Count": cves.len()},
        "Page": {"TotalCount": cves.len(), "ItemCount": cves.len()},
    });
    Answer::Data(Some(answer), Vec::new())
}

/// The lists as the gateway reads them off the members' answers.
fn lists(minuend: &[Value], subtrahend: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let read = |cves: &[Value]| match super::cves(scanned(cves)) {
        Ok(list) => list,
        Err(_) => panic!("a scanned answer has a list"),
    };
    (read(minuend), read(subtrahend))
}

fn ids(diff: &Diff) -> Vec<&str> {
    diff.page.iter().map(id).collect()
}

fn run(minuend: &[Value], subtrahend: &[Value], page: Value) -> Result<Diff, String> {
    let (m, s) = lists(minuend, subtrahend);
    diff(&m, &s, Some(&page))
}

/// Minuend: five CVEs of every kind; the subtrahend shares two of them.
fn fixture() -> (Vec<Value>, Vec<Value>) {
    let minuend = vec![
        cve("CVE-2024-0003", "LOW"),
        cve("CVE-2024-0001", "CRITICAL"),
        cve("CVE-2024-0005", "HIGH"),
        cve("CVE-2024-0002", "MEDIUM"),
        cve("CVE-2024-0004", "HIGH"),
        cve("CVE-2024-0006", "UNKNOWN"),
    ];
    // The subtrahend's copy differs in severity and packages: only the Id counts.
    let subtrahend = vec![
        cve("CVE-2024-0005", "LOW"),
        cve("CVE-2024-0002", "MEDIUM"),
        cve("CVE-2023-9999", "CRITICAL"),
    ];
    (minuend, subtrahend)
}

fn field(query: &str) -> Selected {
    normalize_query(&SEARCH, query).unwrap().remove(0)
}

#[test]
fn the_minuends_cves_the_subtrahend_lacks_stay_by_id() {
    let (m, s) = fixture();
    let got = run(&m, &s, json!({})).unwrap();
    assert_eq!(
        ids(&got),
        [
            "CVE-2024-0001",
            "CVE-2024-0004",
            "CVE-2024-0003",
            "CVE-2024-0006"
        ]
    );
    let got = run(&m, &[], json!({})).unwrap();
    assert_eq!(got.page.len(), m.len(), "nothing to subtract");
    let got = run(&[], &s, json!({})).unwrap();
    assert!(got.page.is_empty());
}

#[test]
fn severity_is_most_severe_first_then_id_and_unknown_words_rank_as_unknown() {
    let m = [
        cve("CVE-B", "LOW"),
        cve("CVE-A", "LOW"),
        cve("CVE-Z", "CRITICAL"),
        cve("CVE-N", "NEGLIGIBLE"),
        cve("CVE-U", "UNKNOWN"),
        cve("CVE-E", ""),
        cve("CVE-O", "NONE"),
    ];
    for page in [
        json!({}),
        json!({"sortBy": "SEVERITY"}),
        json!({"sortBy": null}),
    ] {
        let got = run(&m, &[], page).unwrap();
        assert_eq!(
            ids(&got),
            ["CVE-Z", "CVE-A", "CVE-B", "CVE-N", "CVE-U", "CVE-O", "CVE-E"]
        );
    }
}

#[test]
fn alphabetic_orders_by_id_either_way() {
    let (m, s) = fixture();
    let asc = run(&m, &s, json!({"sortBy": "ALPHABETIC_ASC"})).unwrap();
    assert_eq!(
        ids(&asc),
        [
            "CVE-2024-0001",
            "CVE-2024-0003",
            "CVE-2024-0004",
            "CVE-2024-0006"
        ]
    );
    let dsc = run(&m, &s, json!({"sortBy": "ALPHABETIC_DSC"})).unwrap();
    let mut reversed = ids(&asc);
    reversed.reverse();
    assert_eq!(ids(&dsc), reversed);
}

#[test]
fn image_and_repository_sorts_are_zots_error() {
    let (m, s) = fixture();
    for sort in ["RELEVANCE", "UPDATE_TIME", "STARS", "DOWNLOADS"] {
        assert_eq!(
            run(&m, &s, json!({"sortBy": sort})),
            Err(format!(
                "sorting CVEs by '{sort}' is not supported the pagination sort criteria is not supported"
            ))
        );
    }
}

#[test]
fn pages_are_cut_as_zots_cve_page_finder_cuts_them() {
    let (m, s) = fixture();
    let page = |limit: i64, offset: i64| {
        let got = run(&m, &s, json!({"limit": limit, "offset": offset})).unwrap();
        ids(&got).into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(page(2, 0), ["CVE-2024-0001", "CVE-2024-0004"]);
    assert_eq!(page(2, 1), ["CVE-2024-0004", "CVE-2024-0003"]);
    assert_eq!(page(10, 3), ["CVE-2024-0006"], "a short last page");
    assert!(page(2, 4).is_empty(), "offset at the end");
    assert!(page(2, 40).is_empty(), "offset past the end");
    assert_eq!(page(0, 0).len(), 4, "limit 0 and offset 0: everything");
    assert!(page(0, 1).is_empty(), "limit 0 with an offset: nothing");
    assert_eq!(page(MAX_CVE_PAGE_LIMIT, 0).len(), 4, "4096 is allowed");
}

#[test]
fn bad_pages_are_zots_errors_in_zots_order() {
    let (m, s) = fixture();
    let err = |page: Value| run(&m, &s, page).unwrap_err();
    assert_eq!(
        err(json!({"limit": 4097})),
        "pagination limit has excessive value"
    );
    assert_eq!(
        err(json!({"limit": 5000, "offset": -1})),
        "pagination limit has excessive value",
        "the bound is checked before the offset"
    );
    assert_eq!(
        err(json!({"limit": -1, "offset": -1})),
        "pagination limit has negative value"
    );
    assert_eq!(
        err(json!({"offset": -1})),
        "pagination offset has negative value"
    );
    assert_eq!(
        err(json!({"offset": -1, "sortBy": "STARS"})),
        "pagination offset has negative value",
        "the sort is checked last"
    );
}

#[test]
fn the_summary_counts_the_whole_diff_not_the_page() {
    let (m, s) = fixture();
    let got = run(&m, &s, json!({"limit": 1, "offset": 3})).unwrap();
    assert_eq!(ids(&got), ["CVE-2024-0006"]);
    assert_eq!(
        got.summary,
        json!({
            "MaxSeverity": "CRITICAL",
            "Count": 4,
            "UnknownCount": 1,
            "LowCount": 1,
            "MediumCount": 0,
            "HighCount": 1,
            "CriticalCount": 1,
        })
    );
}

#[test]
fn words_zot_does_not_count_still_raise_max_severity_from_empty() {
    let got = run(
        &[cve("CVE-N", "NEGLIGIBLE"), cve("CVE-U", "UNKNOWN")],
        &[],
        json!({}),
    )
    .unwrap();
    assert_eq!(got.summary["Count"], 1, "NEGLIGIBLE is in no count");
    assert_eq!(got.summary["UnknownCount"], 1);
    assert_eq!(
        got.summary["MaxSeverity"], "NEGLIGIBLE",
        "the first of equal rank stays"
    );
    let empty = run(&[cve("CVE-1", "HIGH")], &[cve("CVE-1", "HIGH")], json!({})).unwrap();
    assert_eq!(
        empty.summary["MaxSeverity"], "",
        "not NONE, as a scan's summary says"
    );
    assert_eq!(empty.summary["Count"], 0);
}

#[test]
fn a_subtrahend_cve_the_search_filtered_out_no_longer_cancels_the_minuends() {
    // searchedCVE "zlib": zot filters both scans before subtracting. The
    // minuend's CVE-2 is in zlib, the subtrahend's CVE-2 in openssl only, so
    // the subtrahend's owner leaves it out and it stays in the diff.
    let client = field(
        r#"{CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}, searchedCVE: "zlib") { CVEList { Id } }}"#,
    );
    let subtrahend = json!({"Repo": "b", "Tag": "1", "Digest": "sha256:bb"});
    let asked = cve_list(&SEARCH, &client, &subtrahend).unwrap();
    assert_eq!(
        asked.args.get("searchedCVE"),
        Some(&json!("zlib")),
        "the subtrahend's list is filtered too"
    );
    let mut zlib = cve("CVE-2", "HIGH");
    zlib["PackageList"][0]["Name"] = json!("zlib");
    let searched = run(&[zlib.clone()], &[], json!({})).unwrap();
    assert_eq!(ids(&searched), ["CVE-2"]);
    let unfiltered = run(&[zlib], &[cve("CVE-2", "HIGH")], json!({})).unwrap();
    assert!(unfiltered.page.is_empty(), "without the search it cancels");
}

#[test]
fn the_lists_asked_carry_the_filters_and_what_the_client_selected() {
    let client = field(
        r#"{d: CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}, searchedCVE: "ssl", excludedCVE: "CVE-1", requestedPage: {limit: 2}) {
            c: CVEList { t: Title PackageList { PackagePath } __typename }
            CVEList { Id Reference PackageList { FixedVersion Name } }
            Summary { Count }
        }}"#,
    );
    let image = json!({"Repo": "a", "Tag": "1", "Digest": "sha256:ab"});
    let list = cve_list(&SEARCH, &client, &image).unwrap();
    assert_eq!(list.key, "d");
    assert_eq!(list.location, client.location);
    assert_eq!(
        render::document(&SEARCH, &list),
        r#"{d:CVEListForImage(image:"a@sha256:ab",searchedCVE:"ssl",excludedCVE:"CVE-1"){CVEList{Id Severity Title Reference PackageList{FixedVersion Name}}}}"#,
        "every CVE, unpaged; PackagePath never asked"
    );
    let bare = field(
        r#"{CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}) { Summary { Count } }}"#,
    );
    let list = cve_list(&SEARCH, &bare, &image).unwrap();
    assert_eq!(
        render::document(&SEARCH, &list),
        r#"{CVEDiffListForImages:CVEListForImage(image:"a@sha256:ab"){CVEList{Id Severity}}}"#,
        "under the client's key"
    );
}

#[test]
fn each_image_is_resolved_by_its_owner_as_a_diff_with_itself() {
    let client = field(
        r#"{d: CVEDiffListForImages(minuend: {Repo: "a", Tag: "1", Platform: {Os: "linux", Arch: "arm64"}}, subtrahend: {Repo: "b", Tag: "2"}, requestedPage: {limit: 5000}) { Page { ItemCount } }}"#,
    );
    let own = self_diff(&SEARCH, &client, &client.args["subtrahend"]).unwrap();
    assert_eq!(
        render::document(&SEARCH, &own),
        r#"{d:CVEDiffListForImages(minuend:{Repo:"b",Tag:"2"},subtrahend:{Repo:"b",Tag:"2"}){Minuend{Repo Tag Digest Platform{Os Arch}}}}"#,
        "no page: its errors belong after both scans"
    );
    let own = self_diff(&SEARCH, &client, &client.args["minuend"]).unwrap();
    let text = render::document(&SEARCH, &own);
    assert!(
        text.contains(r#"minuend:{Platform:{Arch:"arm64",Os:"linux"},Repo:"a",Tag:"1"}"#),
        "{text}"
    );
}

fn refused(message: &str, path: Value) -> Vec<GqlError> {
    vec![GqlError::new(message).path(path.as_array().unwrap().clone())]
}

fn stopped_with(resolved: Resolved) -> String {
    match resolved {
        Resolved::Stop(Answer::Data(None, errors)) => errors[0].message.clone(),
        Resolved::Hidden => "hidden".into(),
        _ => "something else".into(),
    }
}

#[test]
fn refusals_surface_in_the_order_zots_resolver_meets_them() {
    let found = || Identified::Found(json!({"Repo": "a", "Tag": "1"}));
    let unresolved = |m: &str| classify(refused(m, json!(["d"])));
    let hidden = || classify(refused(NULL_IN_NON_NULL, json!(["d", "Minuend"])));
    let unscanned = || classify(refused("manifest not found", json!(["d"])));
    let missing = "minuend image b:2: image not found";

    assert_eq!(
        stopped_with(in_zot_order(
            unresolved(CVE_DISABLED),
            unresolved(CVE_DISABLED)
        )),
        CVE_DISABLED
    );
    assert_eq!(
        stopped_with(in_zot_order(found(), unresolved(missing))),
        "subtrahend image b:2: image not found",
        "the subtrahend's owner resolved it as a minuend"
    );
    assert_eq!(
        stopped_with(in_zot_order(unscanned(), unresolved(missing))),
        "subtrahend image b:2: image not found",
        "zot resolves both images before it scans either"
    );
    assert_eq!(
        stopped_with(in_zot_order(hidden(), unresolved(missing))),
        "hidden"
    );
    assert_eq!(stopped_with(in_zot_order(unscanned(), hidden())), "hidden");
    assert_eq!(
        stopped_with(in_zot_order(found(), unscanned())),
        "manifest not found"
    );
    let unavailable = classify(vec![GqlError::new("member down").code("MEMBER_UNAVAILABLE")]);
    assert!(matches!(unavailable, Identified::Failed(_)));
    assert!(matches!(
        in_zot_order(found(), found()),
        Resolved::Both(_, _)
    ));
}

#[test]
fn the_result_takes_the_clients_shape_with_zots_empty_page() {
    let client = field(
        r#"{d: CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}, requestedPage: {limit: 1}) {
            Page { TotalCount ItemCount }
            s: Subtrahend { Repo Digest }
            CVEList { Severity id: Id PackageList { Name PackagePath } }
            Summary { Count MaxSeverity }
        }}"#,
    );
    let (m, s) = fixture();
    let got = run(&m, &s, client.args["requestedPage"].clone()).unwrap();
    let value = got.result(
        json!({"Repo": "a", "Tag": "1", "Digest": "sha256:aa", "Platform": null}),
        json!({"Repo": "b", "Tag": "1", "Digest": "sha256:bb", "Platform": null}),
    );
    let Answer::Data(Some(data), errors) = projected(&SEARCH, &client, value) else {
        panic!("projected to nothing");
    };
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        serde_json::to_string(&data).unwrap(),
        r#"{"Page":{"TotalCount":0,"ItemCount":0},"s":{"Repo":"b","Digest":"sha256:bb"},"CVEList":[{"Severity":"CRITICAL","id":"CVE-2024-0001","PackageList":[{"Name":"openssl","PackagePath":null}]}],"Summary":{"Count":4,"MaxSeverity":"CRITICAL"}}"#
    );
}

#[test]
fn a_hidden_image_gives_zots_empty_result() {
    let with_minuend = field(
        r#"{CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}) { Minuend { Repo } Summary { Count } }}"#,
    );
    let Answer::Data(None, errors) = projected(&SEARCH, &with_minuend, json!({})) else {
        panic!("Minuend is non-null");
    };
    assert_eq!(errors[0].message, NULL_IN_NON_NULL);
    assert_eq!(
        errors[0].path,
        vec![json!("CVEDiffListForImages"), json!("Minuend")]
    );
    let without = field(
        r#"{CVEDiffListForImages(minuend: {Repo: "a", Tag: "1"}, subtrahend: {Repo: "b", Tag: "1"}) { CVEList { Id } Summary { Count } Page { ItemCount } }}"#,
    );
    let Answer::Data(Some(data), _) = projected(&SEARCH, &without, json!({})) else {
        panic!("nothing non-null asked");
    };
    assert_eq!(
        data,
        json!({"CVEList": null, "Summary": null, "Page": null})
    );
}
