//! htpasswd users for a node started with basic authentication.
//!
//! Hashes are bcrypt in Apache's `$2y$` form, as `htpasswd -B` writes them,
//! at the lowest cost so tests stay fast.

use anyhow::Result;

/// Users and their passwords; written out as an htpasswd file by the node builder.
#[derive(Debug, Clone, Default)]
pub struct Users {
    entries: Vec<(String, String)>,
}

impl Users {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, user: &str, password: &str) -> Self {
        self.entries.push((user.to_owned(), password.to_owned()));
        self
    }

    /// The password of `user`, for clients that log in as that user.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(name, _)| name == user)
            .map(|(_, password)| password.as_str())
    }

    /// The file's text: one `user:$2y$…` line per user.
    pub fn htpasswd(&self) -> Result<String> {
        let mut text = String::new();
        for (user, password) in &self.entries {
            let hash =
                bcrypt::hash_with_result(password, 4)?.format_for_version(bcrypt::Version::TwoY);
            text.push_str(&format!("{user}:{hash}\n"));
        }
        Ok(text)
    }
}
