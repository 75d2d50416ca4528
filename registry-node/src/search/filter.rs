//! zot's `Filter` input: reading, `GlobalSearch`'s size check, `cleanFilter`, and the image and repository acceptance tests (zot-reference §1.4).

use serde_json::Value;

use crate::meta::image::Platform;

/// zot's `querySizeLimit`, which also bounds each `Os` and `Arch` string.
pub(crate) const SIZE_LIMIT: usize = 256;

/// A `Filter` argument. `None` lists were not given; given lists stay
/// `Some` even when cleaning empties them, which matters (see `platforms_match`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Filter {
    pub os: Option<Vec<String>>,
    pub arch: Option<Vec<String>>,
    pub signed: Option<bool>,
    pub bookmarked: Option<bool>,
    pub starred: Option<bool>,
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    let items = value?.as_array()?;
    Some(
        items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

impl Filter {
    /// Reads a coerced `filter` argument (absent or `null` is no filter).
    pub(crate) fn read(arg: Option<&Value>) -> Self {
        let Some(obj) = arg.and_then(Value::as_object) else {
            return Self::default();
        };
        let flag = |key: &str| obj.get(key).and_then(Value::as_bool);
        Self {
            os: strings(obj.get("Os")),
            arch: strings(obj.get("Arch")),
            signed: flag("HasToBeSigned"),
            bookmarked: flag("IsBookmarked"),
            starred: flag("IsStarred"),
        }
    }

    /// zot's `checkFilter` (GlobalSearch only), on the strings as given.
    pub(crate) fn check_sizes(&self) -> Result<(), String> {
        for (name, list) in [("arch", &self.arch), ("os", &self.os)] {
            if let Some(long) = list.iter().flatten().find(|s| s.len() > SIZE_LIMIT) {
                return Err(format!(
                    "max string size limit exceeded for {name} parameter. max={SIZE_LIMIT} current={} request parameter has invalid value",
                    long.len()
                ));
            }
        }
        Ok(())
    }

    /// zot's `cleanFilter`: lower-cased, trimmed, empty strings dropped.
    pub(crate) fn clean(mut self) -> Self {
        for list in [&mut self.os, &mut self.arch].into_iter().flatten() {
            *list = list
                .iter()
                .map(|s| s.to_lowercase().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        self
    }

    /// No condition at all: everything is accepted, so nothing need be looked up.
    pub(crate) fn is_open(&self) -> bool {
        *self == Self::default()
    }

    /// zot's `ImgSumAcceptedByFilter` (bookmarks and stars do not apply to images).
    pub(crate) fn accepts_image(&self, signed: bool, platforms: &[Platform]) -> bool {
        if self.signed == Some(true) && !signed {
            return false;
        }
        self.platforms_match(platforms)
    }

    /// zot's `RepoSumAcceptedByFilter`.
    pub(crate) fn accepts_repo(
        &self,
        signed: bool,
        bookmarked: bool,
        starred: bool,
        platforms: &[Platform],
    ) -> bool {
        if self.signed == Some(true) && !signed {
            return false;
        }
        if self.bookmarked.is_some_and(|b| b != bookmarked)
            || self.starred.is_some_and(|s| s != starred)
        {
            return false;
        }
        self.platforms_match(platforms)
    }

    /// Some one platform matches both lists (an empty list matches all).
    /// Without platforms only an absent filter passes: lists given but
    /// emptied by cleaning still reject, as in zot.
    fn platforms_match(&self, platforms: &[Platform]) -> bool {
        if platforms.is_empty() && self.os.is_none() && self.arch.is_none() {
            return true;
        }
        let contains = |list: &Option<Vec<String>>, value: &str| match list.as_deref() {
            None | Some([]) => true,
            Some(list) => {
                let value = value.to_lowercase();
                list.iter().any(|v| v.to_lowercase() == value)
            }
        };
        platforms
            .iter()
            .any(|p| contains(&self.os, &p.os) && contains(&self.arch, &p.arch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn linux(arch: &str) -> Platform {
        Platform {
            os: "linux".into(),
            arch: arch.into(),
        }
    }

    #[test]
    fn cleaning_lowers_trims_and_drops_empty_strings() {
        let f = Filter::read(Some(&json!({"Os": [" Linux ", ""], "Arch": ["ARM/v7"]}))).clean();
        assert_eq!(f.os, Some(vec!["linux".to_owned()]));
        assert!(f.accepts_image(false, &[linux("arm/v7")]));
        assert!(!f.accepts_image(false, &[linux("amd64")]));
    }

    #[test]
    fn any_one_platform_must_match_both_lists() {
        let f = Filter::read(Some(&json!({"Os": ["linux"], "Arch": ["arm64"]}))).clean();
        let windows = Platform {
            os: "windows".into(),
            arch: "arm64".into(),
        };
        assert!(!f.accepts_image(false, &[windows.clone(), linux("amd64")]));
        assert!(f.accepts_image(false, &[windows, linux("arm64")]));
    }

    #[test]
    fn emptied_lists_reject_items_without_platforms() {
        assert!(Filter::default().accepts_image(false, &[]));
        let emptied = Filter::read(Some(&json!({"Os": [" "]}))).clean();
        assert!(!emptied.accepts_image(false, &[]));
    }

    #[test]
    fn signed_bookmarked_and_starred() {
        let f = Filter::read(Some(&json!({"HasToBeSigned": true, "IsStarred": false})));
        assert!(!f.accepts_repo(false, false, false, &[]));
        assert!(f.accepts_repo(true, true, false, &[]));
        assert!(!f.accepts_repo(true, false, true, &[]));
        // Images ignore bookmarks and stars.
        assert!(f.accepts_image(true, &[]));
    }

    #[test]
    fn long_strings_are_refused_arch_first() {
        let long = "a".repeat(257);
        let f = Filter::read(Some(&json!({"Os": [long], "Arch": [long]})));
        let err = f.check_sizes().unwrap_err();
        assert!(
            err.starts_with(
                "max string size limit exceeded for arch parameter. max=256 current=257"
            ),
            "{err}"
        );
    }
}
