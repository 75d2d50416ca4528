//! The htpasswd file (zot's `HTPasswd`): bcrypt hashes by user, and a cache of passwords already verified.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::config::ConfigError;

const KEY: &str = "http.auth.htpasswd.path";

/// Users and their bcrypt hashes, loaded once at start.
pub(crate) struct Htpasswd {
    hashes: HashMap<String, Arc<str>>,
    /// User → SHA-256 of the last `user:password` that verified. bcrypt costs
    /// milliseconds of CPU and clients send Basic credentials on every request,
    /// so each password is verified once. One entry per user keeps the cache
    /// bounded by the file: bcrypt ignores bytes past 72, so the set of
    /// passwords that verify is not.
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Htpasswd")
            .field("users", &self.hashes.len())
            .finish()
    }
}

impl Htpasswd {
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Invalid {
            key: KEY,
            message: format!("cannot read `{}`: {err}", path.display()),
        })?;
        Self::parse(&text, path)
    }

    /// Reads `user:hash` lines as zot does (split at the first `:`, later lines
    /// win, lines without `:` skipped). zot would start with a hash it cannot
    /// check and fail that user at every login; this refuses the file instead,
    /// naming the line.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut hashes = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let Some((user, hash)) = line.split_once(':') else {
                continue;
            };
            if let Err(problem) = check_hash(hash) {
                return Err(ConfigError::Invalid {
                    key: KEY,
                    message: format!("{}:{}: user `{user}`: {problem}", path.display(), index + 1),
                });
            }
            hashes.insert(user.to_owned(), Arc::from(hash));
        }
        if hashes.is_empty() {
            tracing::warn!(file = %path.display(), "htpasswd file has no users");
        }
        Ok(Self {
            hashes,
            verified: Mutex::default(),
        })
    }

    /// Is `user` in the file? A session outlives no user removed from it.
    pub(crate) fn has_user(&self, user: &str) -> bool {
        self.hashes.contains_key(user)
    }

    /// Does `password` match `user`'s hash? Unknown users fail without running
    /// bcrypt, as in zot. `Err` only if the blocking task died.
    pub(crate) async fn verify(
        &self,
        user: &str,
        password: &[u8],
    ) -> Result<bool, tokio::task::JoinError> {
        let Some(hash) = self.hashes.get(user) else {
            return Ok(false);
        };
        let fingerprint = fingerprint(user, password);
        if self
            .cached(user)
            .is_some_and(|known| same(&known, &fingerprint))
        {
            return Ok(true);
        }
        let hash = Arc::clone(hash);
        let password = password.to_vec();
        // bcrypt takes milliseconds of CPU: keep it off the async workers.
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await?;
        if ok {
            self.lock().insert(user.to_owned(), fingerprint);
        }
        Ok(ok)
    }

    fn cached(&self, user: &str) -> Option<[u8; 32]> {
        self.lock().get(user).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        // The map holds no invariant a panicking holder could break.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// zot accepts `$2a$`, `$2b$` and `$2y$` bcrypt (and sha-crypt `$5$`/`$6$`, which this node lacks).
fn check_hash(hash: &str) -> Result<(), String> {
    if hash.starts_with("$5$") || hash.starts_with("$6$") {
        return Err(
            "SHA-crypt hashes are not supported; regenerate the entry with `htpasswd -B`".into(),
        );
    }
    if !["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
    {
        return Err("not a bcrypt hash ($2y$…); regenerate the entry with `htpasswd -B`".into());
    }
    let parts =
        bcrypt::HashParts::from_str(hash).map_err(|err| format!("malformed bcrypt hash: {err}"))?;
    if !(4..=31).contains(&parts.get_cost()) {
        return Err(format!(
            "bcrypt cost {} is outside 4..=31",
            parts.get_cost()
        ));
    }
    Ok(())
}

/// A Basic user name cannot contain `:`, so `user:password` is unambiguous.
fn fingerprint(user: &str, password: &[u8]) -> [u8; 32] {
    let mut sha = Sha256::new();
    sha.update(user.as_bytes());
    sha.update(b":");
    sha.update(password);
    sha.finalize().into()
}

/// Compares without an early exit, so timing says nothing about the stored value.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(lines: &[String]) -> Result<Htpasswd, ConfigError> {
        Htpasswd::parse(&lines.join("\n"), Path::new("users.htpasswd"))
    }

    #[tokio::test]
    async fn verifies_each_bcrypt_variant() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let tail = &hash[4..];
        let users = file(&[
            format!("a:$2a${tail}"),
            format!("b:$2b${tail}"),
            format!("y:$2y${tail}"),
        ])
        .unwrap();
        for user in ["a", "b", "y"] {
            assert!(users.verify(user, b"secret").await.unwrap(), "{user}");
            assert!(!users.verify(user, b"Secret").await.unwrap(), "{user}");
        }
        assert!(!users.verify("nobody", b"secret").await.unwrap());
    }

    #[tokio::test]
    async fn a_verified_password_is_cached_and_a_wrong_one_is_not() {
        let users = file(&[format!("alice:{}", bcrypt::hash("pw", 4).unwrap())]).unwrap();
        assert!(users.cached("alice").is_none());
        assert!(users.verify("alice", b"pw").await.unwrap());
        assert_eq!(users.cached("alice"), Some(fingerprint("alice", b"pw")));
        assert!(!users.verify("alice", b"other").await.unwrap());
        assert_eq!(users.cached("alice"), Some(fingerprint("alice", b"pw")));
    }

    #[test]
    fn later_lines_win_and_lines_without_colon_are_skipped() {
        let first = bcrypt::hash("one", 4).unwrap();
        let second = bcrypt::hash("two", 4).unwrap();
        let users = file(&[
            "# comment".into(),
            String::new(),
            format!("bob:{first}"),
            format!("bob:{second}"),
        ])
        .unwrap();
        assert_eq!(users.hashes.len(), 1);
        assert_eq!(&*users.hashes["bob"], second.as_str());
    }

    #[test]
    fn unsupported_hashes_name_the_file_and_line() {
        let good = format!("ok:{}", bcrypt::hash("x", 4).unwrap());
        for bad in [
            "md5:$apr1$abc$def",
            "sha:$6$salt$hash",
            "plain:secret",
            "short:$2y$05$tooshort",
        ] {
            let err = file(&[good.clone(), bad.to_owned()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("users.htpasswd:2"), "{err}");
            assert!(err.contains(bad.split(':').next().unwrap()), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Htpasswd::load(Path::new("/nonexistent/htpasswd"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/htpasswd"), "{err}");
        assert!(err.contains(KEY), "{err}");
    }
}
