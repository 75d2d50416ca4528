//! Repository globs matched as zot matches them (doublestar v4 `Match`), built on globset.
//!
//! globset with a literal separator already agrees with doublestar on `*`, `?`,
//! classes, `{a,b}`, `**/x` and `x/**/y`, and reads a `**` that is not a whole
//! path segment as `*`, as doublestar does. One difference is patched here:
//! doublestar lets a trailing `/**` match nothing at all, so `team/**` also
//! matches the repository `team` itself.

use globset::{GlobBuilder, GlobMatcher};

/// One `accessControl.repositories` key, compiled.
#[derive(Debug, Clone)]
pub(crate) struct RepoGlob {
    full: GlobMatcher,
    /// The pattern without its trailing `/**`, which doublestar also accepts.
    parent: Option<GlobMatcher>,
}

impl RepoGlob {
    /// Compiles a pattern; an error means zot's `glob.ValidatePattern` would refuse it too
    /// (unclosed `[` or `{`, a dangling `\`).
    pub(crate) fn new(pattern: &str) -> Result<Self, globset::Error> {
        let parent = match pattern.strip_suffix("/**") {
            Some(prefix) if !prefix.is_empty() => Some(matcher(prefix)?),
            _ => None,
        };
        Ok(Self {
            full: matcher(pattern)?,
            parent,
        })
    }

    pub(crate) fn is_match(&self, repo: &str) -> bool {
        self.full.is_match(repo) || self.parent.as_ref().is_some_and(|p| p.is_match(repo))
    }
}

fn matcher(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    let glob = GlobBuilder::new(pattern)
        // doublestar: `*` and `?` never cross `/`, `\` escapes, `{,x}` is allowed.
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()?;
    Ok(glob.compile_matcher())
}

#[cfg(test)]
mod tests {
    use super::RepoGlob;

    fn matches(pattern: &str, repo: &str) -> bool {
        RepoGlob::new(pattern).unwrap().is_match(repo)
    }

    #[test]
    fn single_star_stays_in_one_segment() {
        assert!(matches("repos/*", "repos/a"));
        assert!(!matches("repos/*", "repos/a/b"));
        assert!(!matches("repos/*", "repos"));
        assert!(!matches("*", "a/b"));
        assert!(matches("*", "a"));
    }

    #[test]
    fn double_star_crosses_segments_and_matches_its_parent() {
        assert!(matches("**", "a/b/c"));
        assert!(matches("repos/**", "repos/a/b"));
        assert!(matches("repos/**", "repos"));
        assert!(!matches("repos/**", "reposx"));
        assert!(matches("**/b", "b"));
        assert!(matches("a/**/b", "a/b"));
        assert!(matches("a/**/b", "a/x/y/b"));
    }

    #[test]
    fn mid_segment_double_star_is_a_single_star() {
        assert!(matches("a**", "abc"));
        assert!(!matches("a**", "ab/c"));
    }

    #[test]
    fn classes_and_alternatives() {
        assert!(matches("{prod,staging}/*", "staging/app"));
        assert!(!matches("{prod,staging}/*", "dev/app"));
        assert!(matches("app[0-9]", "app7"));
        assert!(matches("app[!0-9]", "appx"));
        assert!(matches("app{,-dev}", "app"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(RepoGlob::new("repos/[a").is_err());
        assert!(RepoGlob::new("repos/{a,b").is_err());
    }
}
