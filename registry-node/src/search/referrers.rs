//! `Referrers(repo, digest, type)`: the referrers the metadata recorded for a digest (zot-reference §1.5), not the storage view of the referrers API.

use serde_json::{Map, Value};

use super::summary::referrers_json;
use super::{arg_str, Ctx};

/// go-digest's `Validate`, with its error texts.
pub(crate) fn validate_digest(digest: &str) -> Result<(), &'static str> {
    const FORMAT: &str = "invalid checksum digest format";
    let Some((algorithm, encoded)) = digest
        .split_once(':')
        .filter(|(a, e)| !a.is_empty() && !e.is_empty())
    else {
        return Err(FORMAT);
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            let component = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            };
            let algorithm_ok = algorithm.split(['.', '+', '_', '-']).all(component);
            let encoded_ok = encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
            return Err(if algorithm_ok && encoded_ok {
                "unsupported digest algorithm"
            } else {
                FORMAT
            });
        }
    };
    if encoded.len() != len {
        return Err("invalid checksum digest length");
    }
    if !encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(FORMAT);
    }
    Ok(())
}

/// zot's `MatchesArtifactTypes`: no types, or a `""` among them, match all.
fn matches(artifact_type: &str, types: &[&str]) -> bool {
    types.is_empty() || types.iter().any(|t| t.is_empty() || *t == artifact_type)
}

/// `Referrers`: `[]` without error for a repository the user may not read;
/// each referrer once, filtered by artifact type.
pub(crate) fn referrers(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Value, String> {
    let repo = arg_str(args, "repo");
    let digest = arg_str(args, "digest");
    if !ctx.can_read(repo) {
        return Ok(Value::Array(Vec::new()));
    }
    validate_digest(digest)
        .map_err(|e| format!("bad digest string from request '{digest}' {e}"))?;
    let r = ctx
        .state
        .repos
        .get(repo)
        .ok_or("repo metadata not found for given repo name")?;
    let types: Vec<&str> = args
        .get("type")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let list = r
        .referrers
        .get(digest)
        .into_iter()
        .flatten()
        .filter(|x| matches(&x.artifact_type, &types) && seen.insert(x.digest.as_str()));
    Ok(referrers_json(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_checked_as_go_digest_checks_them() {
        assert_eq!(
            validate_digest(&format!("sha256:{}", "a".repeat(64))),
            Ok(())
        );
        assert_eq!(
            validate_digest("sha256:abc"),
            Err("invalid checksum digest length")
        );
        assert_eq!(
            validate_digest(&format!("sha256:{}", "G".repeat(64))),
            Err("invalid checksum digest format")
        );
        assert_eq!(
            validate_digest("nope"),
            Err("invalid checksum digest format")
        );
        assert_eq!(
            validate_digest("md5:abc"),
            Err("unsupported digest algorithm")
        );
    }

    #[test]
    fn an_empty_type_matches_everything() {
        assert!(matches("x", &[]));
        assert!(matches("x", &[""]));
        assert!(matches("x", &["y", "x"]));
        assert!(!matches("x", &["y"]));
    }
}
