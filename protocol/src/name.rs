//! Repository names: the distribution grammar zot routes on, which also keeps every name inside the storage root.

use std::sync::LazyLock;

use regex::Regex;

/// zot's `NameRegexp`: lower-case components joined by `/` (zot-reference §2.1).
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";
    Regex::new(&format!("^{component}(?:/{component})*$")).expect("static regex")
});

/// Longest repository name accepted, as the distribution spec recommends.
const MAX_NAME_LEN: usize = 255;

/// True when `name` is a valid repository name. A valid name has no `..`, no
/// leading `/`, no `%`, so it can never leave the storage root.
pub fn is_valid(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && NAME.is_match(name)
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn grammar() {
        for ok in [
            "a",
            "library/alpine",
            "a-b/c_d/e.f",
            "a__b",
            "a---b",
            "0/1/2",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "..", "a/../b", "a/./b", "a%2Fb", "-a", "a-", "a.", "a b",
            "a\\b", ".uploads",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(!is_valid(&"a".repeat(256)));
    }
}
