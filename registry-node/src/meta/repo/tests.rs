//! zot's repository rules in isolation: the newest image, referrer counts, the reserved cosign place.

use std::sync::Arc;

use time::OffsetDateTime;

use super::*;
use crate::meta::image::{Blob, Manifest};
use crate::meta::time as mtime;

fn image(digest: &str, created: &str, subject: Option<&str>) -> Image {
    Image::Manifest(Arc::new(Manifest {
        digest: digest.into(),
        size: 10,
        config: Blob {
            digest: format!("{digest}-config"),
            size: 3,
        },
        layers: vec![Blob {
            digest: "sha256:shared".into(),
            size: 100,
        }],
        subject: subject.map(str::to_owned),
        config_updated: mtime::parse(created),
        ..Manifest::default()
    }))
}

/// A valid digest made of one repeated hex character.
fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

#[test]
fn the_newest_image_only_moves_forward_on_push() {
    let mut repo = Repo::new("r");
    repo.set_reference(
        "new",
        image(&d('b'), "2024-02-01T00:00:00Z", None),
        now(),
        "",
        now(),
    );
    repo.set_reference(
        "old",
        image(&d('a'), "2024-01-01T00:00:00Z", None),
        now(),
        "",
        now(),
    );
    assert_eq!(repo.newest.as_ref().unwrap().tag, "new");
    // Shared layers count once in the repository's size.
    assert_eq!(repo.size, 10 + 3 + 10 + 3 + 100);
    repo.remove_reference("new", &d('b'));
    assert_eq!(repo.newest.as_ref().unwrap().tag, "old");
    assert!(!repo.stats.contains_key(&d('b')));
}

#[test]
fn pushes_by_digest_record_images_but_no_tag() {
    let mut repo = Repo::new("r");
    let touched = repo.set_reference(
        &d('a'),
        image(&d('a'), "2024-01-01T00:00:00Z", None),
        now(),
        "u",
        now(),
    );
    assert!(touched.tags.is_empty());
    assert!(repo.tags.is_empty() && repo.newest.is_none());
    assert_eq!(repo.stats[&d('a')].pushed_by, "u");
    assert_eq!(
        repo.stats[&d('a')].last_pull,
        Some(OffsetDateTime::UNIX_EPOCH)
    );
}

#[test]
fn referrers_are_counted_per_reference() {
    let mut repo = Repo::new("r");
    let sbom = || image(&d('c'), "2024-01-01T00:00:00Z", Some(&d('a')));
    repo.set_reference("one", sbom(), now(), "", now());
    repo.set_reference("two", sbom(), now(), "", now());
    assert_eq!(repo.referrers[&d('a')][0].count, 2);
    repo.remove_reference("one", &d('c'));
    assert_eq!(repo.referrers[&d('a')].len(), 1);
    repo.remove_reference(&d('c'), &d('c'));
    assert!(repo.referrers[&d('a')].is_empty());
}

#[test]
fn cosign_tag_signatures_take_the_first_place() {
    let mut repo = Repo::new("r");
    let sig = |d: &str| Signature {
        digest: d.into(),
        layers: 1,
    };
    repo.add_signature(Tool::Cosign, &d('a'), sig("sha256:x"), false);
    assert_eq!(repo.signatures[&d('a')][&Tool::Cosign][0].digest, "");
    repo.add_signature(Tool::Cosign, &d('a'), sig("sha256:t"), true);
    assert_eq!(
        repo.signatures[&d('a')][&Tool::Cosign][0].digest,
        "sha256:t"
    );
    assert!(repo.delete_signature("sha256:x"));
    assert!(repo.is_signed(&d('a')));
    assert!(!repo.delete_signature("sha256:x"));
}

#[test]
fn downloads_of_unknown_references_are_not_counted() {
    let mut repo = Repo::new("r");
    repo.set_reference(
        "v1",
        image(&d('a'), "2024-01-01T00:00:00Z", None),
        now(),
        "",
        now(),
    );
    assert_eq!(repo.record_download("v1", now()), Some(d('a')));
    assert_eq!(repo.record_download(&d('a'), now()), Some(d('a')));
    assert_eq!(repo.record_download("v2", now()), None);
    assert_eq!(repo.downloads, 2);
}
