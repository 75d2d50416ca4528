//! `GlobalSearch`'s `filter` keeps what zot keeps (zot-reference §1.4): platforms matched per
//! platform, case-insensitively, with `arch/variant`; signatures; and, for repositories only, the
//! caller's own stars and bookmarks.

use std::collections::BTreeSet;

use anyhow::Result;
use flotilla_e2e::search_fixture::{column, image_names, Fixture, ADMIN, DEV};
use serde_json::{json, Value};

/// Every repository `user` finds with `filter`, and the `Page` total.
fn repos(fixture: &Fixture, user: Option<&str>, filter: &str) -> Result<(BTreeSet<String>, Value)> {
    let query = format!("{{GlobalSearch(query:\"\", filter:{{{filter}}}){{Page{{TotalCount ItemCount}} Repos{{Name}}}}}}");
    let data = fixture.search(user).data(&query)?;
    let names = column(&data["GlobalSearch"]["Repos"], "Name")
        .into_iter()
        .collect();
    Ok((names, data["GlobalSearch"]["Page"]["TotalCount"].clone()))
}

/// Every tag matching `:tag` the admin finds with `filter`.
fn tags(fixture: &Fixture, tag: &str, filter: &str) -> Result<BTreeSet<String>> {
    let query = format!(
        "{{GlobalSearch(query:\":{tag}\", filter:{{{filter}}}){{Images{{RepoName Tag}}}}}}"
    );
    let data = fixture.as_admin().data(&query)?;
    Ok(image_names(&data["GlobalSearch"]["Images"])
        .into_iter()
        .collect())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The admin's repositories that have a platform for which `keep` holds.
fn with_platform(fixture: &Fixture, keep: impl Fn(&str, &str) -> bool) -> BTreeSet<String> {
    fixture
        .repos_for(Some(ADMIN.0))
        .into_iter()
        .filter(|r| r.platforms.iter().any(|(os, arch)| keep(os, arch)))
        .map(|r| r.name.clone())
        .collect()
}

#[test]
fn an_os_filter_keeps_repositories_with_a_platform_of_that_os() -> Result<()> {
    let fixture = Fixture::start()?;

    let (names, total) = repos(&fixture, Some(ADMIN.0), "Os:[\"linux\"]")?;

    assert_eq!(names, with_platform(&fixture, |os, _| os == "linux"));
    // Everything but windows/nanoserver and the two oras-only repositories.
    assert_eq!(total, json!(27));
    Ok(())
}

#[test]
fn os_and_arch_filters_ignore_case_and_surrounding_spaces() -> Result<()> {
    let fixture = Fixture::start()?;

    let (windows, _) = repos(&fixture, Some(ADMIN.0), "Os:[\" WINDOWS \"]")?;
    let (arm64, _) = repos(&fixture, Some(ADMIN.0), "Arch:[\"ARM64\"]")?;

    assert_eq!(windows, set(&["public/windows/nanoserver"]));
    assert_eq!(arm64, with_platform(&fixture, |_, arch| arch == "arm64"));
    Ok(())
}

#[test]
fn an_arch_filter_names_the_variant_as_arch_slash_variant() -> Result<()> {
    let fixture = Fixture::start()?;

    let (v7, _) = repos(&fixture, Some(ADMIN.0), "Arch:[\"arm/v7\"]")?;
    let (bare, total) = repos(&fixture, Some(ADMIN.0), "Arch:[\"arm\"]")?;

    assert_eq!(v7, set(&["public/alpine", "team-a/db/redis"]));
    assert!(bare.is_empty(), "`arm` matched {bare:?}");
    assert_eq!(total, json!(0));
    Ok(())
}

#[test]
fn os_and_arch_must_match_one_and_the_same_platform() -> Result<()> {
    let fixture = Fixture::start()?;

    // nanoserver is windows/amd64; every arm64 platform is linux.
    let (names, _) = repos(&fixture, Some(ADMIN.0), "Os:[\"windows\"] Arch:[\"arm64\"]")?;
    let (either, _) = repos(
        &fixture,
        Some(ADMIN.0),
        "Os:[\"windows\", \"linux\"] Arch:[\"amd64\"]",
    )?;

    assert!(names.is_empty(), "{names:?}");
    assert_eq!(either, with_platform(&fixture, |_, arch| arch == "amd64"));
    Ok(())
}

#[test]
fn platform_filters_keep_tags_with_any_matching_manifest() -> Result<()> {
    let fixture = Fixture::start()?;

    let arm64 = tags(&fixture, "3.19", "Arch:[\"arm64\"]")?;
    let linux = tags(&fixture, "v1", "Os:[\"linux\"]")?;

    // Only the 3.19 index has an arm64 manifest.
    assert_eq!(arm64, set(&["public/alpine:3.19"]));
    // The oras artifacts tagged v1 have no platform at all.
    assert_eq!(
        linux,
        set(&[
            "team-a/api:v1.0",
            "team-a/api:v1.1",
            "team-a/frontend/app:v1",
            "team-a/web:v1",
            "team-a/worker:v1"
        ])
    );
    Ok(())
}

#[test]
fn an_os_list_of_blanks_drops_whatever_has_no_platform() -> Result<()> {
    let fixture = Fixture::start()?;

    // Cleaned to an empty, but present, list (zot-reference §1.4).
    let (names, total) = repos(&fixture, Some(ADMIN.0), "Os:[\" \"]")?;

    let all: BTreeSet<String> = fixture
        .repos_for(Some(ADMIN.0))
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let dropped: Vec<&String> = all.difference(&names).collect();
    assert_eq!(dropped, ["ml/models/bert", "public/docs/site"]);
    assert_eq!(total, json!(28));
    Ok(())
}

#[test]
fn has_to_be_signed_keeps_repositories_whose_newest_image_is_signed() -> Result<()> {
    let fixture = Fixture::start()?;

    let (signed, _) = repos(&fixture, Some(ADMIN.0), "HasToBeSigned:true")?;
    let (unfiltered, total) = repos(&fixture, Some(ADMIN.0), "HasToBeSigned:false")?;

    assert_eq!(
        signed,
        set(&["library/alpine", "public/alpine", "team-a/worker"])
    );
    assert_eq!(unfiltered.len(), 30);
    assert_eq!(total, json!(30));
    Ok(())
}

#[test]
fn has_to_be_signed_keeps_signed_tags() -> Result<()> {
    let fixture = Fixture::start()?;

    let signed = tags(&fixture, "3", "HasToBeSigned:true")?;

    assert_eq!(signed, set(&["library/alpine:3.19", "public/alpine:3.20"]));
    Ok(())
}

#[test]
fn is_starred_keeps_the_callers_starred_repositories_or_the_others() -> Result<()> {
    let fixture = Fixture::start()?;

    for (user, starred, total) in [(Some(ADMIN.0), 3, 30), (Some(DEV.0), 2, 9), (None, 0, 9)] {
        let (yes, _) = repos(&fixture, user, "IsStarred:true")?;
        let (no, _) = repos(&fixture, user, "IsStarred:false")?;

        let expected = user.map(|u| fixture.starred_by(u)).unwrap_or_default();
        assert_eq!(yes, expected, "{user:?}");
        assert_eq!(yes.len(), starred, "{user:?}");
        assert_eq!(no.len(), total - starred, "{user:?}");
        assert!(yes.is_disjoint(&no), "{user:?}");
    }
    Ok(())
}

#[test]
fn is_bookmarked_keeps_the_callers_bookmarked_repositories_or_the_others() -> Result<()> {
    let fixture = Fixture::start()?;

    for (user, bookmarked, total) in [(Some(ADMIN.0), 2, 30), (Some(DEV.0), 1, 9), (None, 0, 9)] {
        let (yes, _) = repos(&fixture, user, "IsBookmarked:true")?;
        let (no, _) = repos(&fixture, user, "IsBookmarked:false")?;

        assert_eq!(yes.len(), bookmarked, "{user:?}: {yes:?}");
        assert_eq!(no.len(), total - bookmarked, "{user:?}");
        if let Some(user) = user {
            assert!(yes.is_subset(&fixture.bookmarked_by(user)), "{yes:?}");
        }
    }
    Ok(())
}

#[test]
fn starred_and_bookmarked_filters_do_not_apply_to_tags() -> Result<()> {
    let fixture = Fixture::start()?;

    let unfiltered = tags(&fixture, "3.19", "")?;
    let filtered = tags(&fixture, "3.19", "IsStarred:true IsBookmarked:true")?;

    assert_eq!(filtered, unfiltered);
    assert_eq!(unfiltered.len(), 4, "{unfiltered:?}");
    Ok(())
}

#[test]
fn filters_apply_before_the_page_is_cut() -> Result<()> {
    let fixture = Fixture::start()?;
    let query = "{GlobalSearch(query:\"\", requestedPage:{limit:2 offset:0 sortBy:ALPHABETIC_ASC}, filter:{Os:[\"linux\"] Arch:[\"arm64\"]}){Page{TotalCount ItemCount} Repos{Name}}}";

    let data = fixture.as_admin().data(query)?;

    let arm64 = with_platform(&fixture, |os, arch| os == "linux" && arch == "arm64");
    let first_two: Vec<String> = arm64.iter().take(2).cloned().collect();
    assert_eq!(column(&data["GlobalSearch"]["Repos"], "Name"), first_two);
    assert_eq!(
        data["GlobalSearch"]["Page"],
        json!({"TotalCount": arm64.len(), "ItemCount": 2})
    );
    Ok(())
}

#[test]
fn an_os_or_arch_longer_than_256_bytes_is_refused() -> Result<()> {
    let fixture = Fixture::start()?;
    let long = "x".repeat(257);

    for (key, name) in [("Os", "os"), ("Arch", "arch")] {
        let query =
            format!("{{GlobalSearch(query:\"\", filter:{{{key}:[\"{long}\"]}}){{Repos{{Name}}}}}}");

        let answer = fixture.as_admin().get(&query)?;

        answer.ensure_resolver_error(
            "GlobalSearch",
            &format!("max string size limit exceeded for {name} parameter. max=256 current=257 request parameter has invalid value"),
        )?;
    }
    Ok(())
}
