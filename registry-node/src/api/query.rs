//! Query strings as Go's `url.Values` sees them: decoded, with repeated keys kept in order.

/// A request's query parameters.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every value of `key`, in order; empty when absent.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Go's `Values.Get`: the first value, or `""`.
    pub(crate) fn first(&self, key: &str) -> &str {
        self.all(key).first().copied().unwrap_or("")
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn repeated_and_encoded_values() {
        let q = Query::parse(Some("tag=a&tag=b&last=x%2Fy&empty="));
        assert_eq!(q.all("tag"), vec!["a", "b"]);
        assert_eq!(q.first("last"), "x/y");
        assert!(q.has("empty"));
        assert_eq!(q.first("missing"), "");
    }
}
