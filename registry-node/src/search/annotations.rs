//! zot's image annotations (`convert/annotations.go`): each field from the OCI annotation, else its label-schema twin, else the config labels; an index's own first, then its first manifest's.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::meta::image::{Index, Manifest};
use crate::meta::repo::{annotation, LABEL_VENDOR, VENDOR};
use crate::meta::time as mtime;

/// zot's `ImageAnnotations`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Annotations {
    pub created: Option<OffsetDateTime>,
    pub description: String,
    pub title: String,
    pub documentation: String,
    pub source: String,
    pub licenses: String,
    pub labels: String,
    pub vendor: String,
    pub authors: String,
}

const CREATED: (&str, &str) = (
    "org.opencontainers.image.created",
    "org.label-schema.build-date",
);
const DESCRIPTION: (&str, &str) = (
    "org.opencontainers.image.description",
    "org.label-schema.description",
);
const TITLE: (&str, &str) = ("org.opencontainers.image.title", "org.label-schema.name");
const DOCUMENTATION: (&str, &str) = (
    "org.opencontainers.image.documentation",
    "org.label-schema.usage",
);
const SOURCE: (&str, &str) = (
    "org.opencontainers.image.source",
    "org.label-schema.vcs-url",
);
const LICENSES: (&str, &str) = (
    "org.opencontainers.image.licenses",
    "org.label-schema.license",
);
const AUTHORS: &str = "org.opencontainers.image.authors";
const CATEGORIES: &str = "org.label-schema.labels";

pub(crate) fn created(map: &BTreeMap<String, String>) -> Option<OffsetDateTime> {
    mtime::parse(annotation(map, CREATED.0, CREATED.1))
}

/// zot's `GetAnnotations`: each value from the manifest's annotations, else its config's labels.
pub(crate) fn manifest_annotations(m: &Manifest) -> Annotations {
    let (a, l) = (&m.annotations, &m.labels);
    let pick = |(key, label): (&str, &str)| {
        let v = annotation(a, key, label);
        if v.is_empty() {
            annotation(l, key, label)
        } else {
            v
        }
        .to_owned()
    };
    let plain = |key: &str| {
        let v = a.get(key).map_or("", String::as_str);
        if v.is_empty() {
            l.get(key).map_or("", String::as_str)
        } else {
            v
        }
        .to_owned()
    };
    Annotations {
        created: manifest_created(m),
        description: pick(DESCRIPTION),
        title: pick(TITLE),
        documentation: pick(DOCUMENTATION),
        source: pick(SOURCE),
        licenses: pick(LICENSES),
        labels: plain(CATEGORIES),
        vendor: pick((VENDOR, LABEL_VENDOR)),
        authors: plain(AUTHORS),
    }
}

/// zot's `GetIndexAnnotations`: the index's own, else the first manifest's.
pub(crate) fn index_annotations(index: &Index, first: Annotations) -> Annotations {
    let a = &index.annotations;
    let or = |v: &str, fallback: String| if v.is_empty() { fallback } else { v.to_owned() };
    Annotations {
        created: created(a).or(first.created),
        description: or(
            annotation(a, DESCRIPTION.0, DESCRIPTION.1),
            first.description,
        ),
        title: or(annotation(a, TITLE.0, TITLE.1), first.title),
        documentation: or(
            annotation(a, DOCUMENTATION.0, DOCUMENTATION.1),
            first.documentation,
        ),
        source: or(annotation(a, SOURCE.0, SOURCE.1), first.source),
        licenses: or(annotation(a, LICENSES.0, LICENSES.1), first.licenses),
        labels: or(a.get(CATEGORIES).map_or("", String::as_str), first.labels),
        vendor: or(annotation(a, VENDOR, LABEL_VENDOR), first.vendor),
        authors: or(a.get(AUTHORS).map_or("", String::as_str), first.authors),
    }
}

/// `GetAnnotations(...).Created` alone: the manifest's created annotation, else its config label's.
pub(crate) fn manifest_created(m: &Manifest) -> Option<OffsetDateTime> {
    created(&m.annotations).or_else(|| created(&m.labels))
}

/// A manifest's `LastUpdated`: its created annotation, else its config's time.
pub(crate) fn manifest_updated(m: &Manifest) -> Option<OffsetDateTime> {
    manifest_created(m).or(m.config_updated)
}
