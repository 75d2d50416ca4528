//! Which manifests are signatures (cosign tags, cosign and notation referrers) and which tags zot's metadata skips.

use std::sync::LazyLock;

use regex::Regex;

const NOTATION: &str = "application/vnd.cncf.notary.signature";
const COSIGN: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const COSIGN_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// zot's `cosignSignatureTagRule`, unanchored as zot writes it.
static COSIGN_TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"sha256\-.+\.sig").unwrap());
/// zot's referrers-tag rule (the distribution-spec fallback tag schema).
static REFERRERS_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"sha256\-[A-Za-z0-9]*$").unwrap());

/// A signature tool, as `SignatureSummary.Tool` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Tool {
    Cosign,
    Notation,
}

impl Tool {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cosign => "cosign",
            Self::Notation => "notation",
        }
    }
}

/// zot's `IsReferrersTag`: such tags are left out of the metadata entirely.
pub(crate) fn is_referrers_tag(tag: &str) -> bool {
    REFERRERS_TAG.is_match(tag)
}

/// zot's `IsCosignSignature` for a tag.
pub(crate) fn is_cosign_tag(tag: &str) -> bool {
    COSIGN_TAG.is_match(tag)
}

/// zot's `isSignature` (`pkg/meta/parse.go`): notation or cosign referrers by
/// artifact type and subject, or a cosign `sha256-<hex>.sig` tag. Returns
/// the tool and the signed manifest's digest.
pub(crate) fn detect(
    reference: &str,
    artifact_type: &str,
    subject: Option<&str>,
) -> Option<(Tool, String)> {
    if let Some(subject) = subject {
        if artifact_type == NOTATION {
            return Some((Tool::Notation, subject.to_owned()));
        }
        if artifact_type == COSIGN || artifact_type == COSIGN_BUNDLE {
            return Some((Tool::Cosign, subject.to_owned()));
        }
    }
    if !is_cosign_tag(reference) {
        return None;
    }
    // zot slices the tag at fixed offsets, whatever matched the rule.
    let encoded = reference.get(7..71)?;
    let valid = reference.len() == 75
        && encoded
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| (Tool::Cosign, format!("sha256:{encoded}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_tags_and_referrer_signatures() {
        let hex = "a".repeat(64);
        assert_eq!(
            detect(&format!("sha256-{hex}.sig"), "", None),
            Some((Tool::Cosign, format!("sha256:{hex}")))
        );
        assert_eq!(detect("sha256-abc.sig", "", None), None);
        assert_eq!(
            detect("sha256:x", NOTATION, Some("sha256:s")),
            Some((Tool::Notation, "sha256:s".into()))
        );
        assert_eq!(detect("v1", COSIGN_BUNDLE, None), None);
    }

    #[test]
    fn referrers_tags() {
        assert!(is_referrers_tag(&format!("sha256-{}", "b".repeat(64))));
        assert!(!is_referrers_tag("sha256-abc.sig"));
        assert!(!is_referrers_tag("latest"));
    }
}
