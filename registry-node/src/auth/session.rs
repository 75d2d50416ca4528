//! UI login sessions (zot's filesystem cookie store, made safer): a random token in the cookie, its state in one small file under `<root>/_sessions`.
//!
//! The cookie holds 32 random bytes (base64url, unpadded) and nothing else;
//! the server keeps `session_<sha256 of the token>` holding `{user, expires}`.
//! Reading the directory therefore yields no usable cookie, a forged or
//! altered cookie names no file, and a logout deletes the file, so the old
//! cookie is dead at once (zot's gorilla store instead signs a cookie naming
//! its file, with keys from `sessionKeysFile`). Files are written whole and
//! renamed into place, so they survive a restart and a crash leaves no half
//! session. Expired files are removed when met and by [`Sessions::sweep`].

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{write_atomic, SESSIONS_DIR, UPLOADS_DIR};
use flotilla_protocol::session_cookie::MAX_AGE;

const FILE_PREFIX: &str = "session_";
const TOKEN_BYTES: usize = 32;

/// What the server keeps of one session.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    user: String,
    /// Unix seconds.
    expires: i64,
}

/// The session store of one node.
#[derive(Debug)]
pub(crate) struct Sessions {
    dir: PathBuf,
}

/// A session just created.
#[derive(Debug)]
pub(super) struct Login {
    pub(super) token: String,
    /// Unix seconds.
    pub(super) expires: i64,
}

impl Sessions {
    /// The store under `root`; the directory is made at the first login.
    pub(super) fn new(root: &Path) -> Self {
        Self {
            dir: root.join(SESSIONS_DIR),
        }
    }

    /// Saves a session for `user` lasting [`MAX_AGE`] from `now` (unix seconds).
    pub(super) async fn create(&self, user: &str, now: i64) -> io::Result<Login> {
        let token = new_token()?;
        let expires = now.saturating_add(MAX_AGE);
        let record = Record {
            user: user.to_owned(),
            expires,
        };
        let body = serde_json::to_vec(&record).map_err(io::Error::other)?;
        let name = file_name(&token).ok_or_else(|| io::Error::other("token not well formed"))?;
        write_atomic(&self.dir, &name, &body).await?;
        Ok(Login { token, expires })
    }

    /// The user of the live session `token` names, if any. An expired or
    /// unreadable session is removed on the way.
    pub(super) async fn lookup(&self, token: &str, now: i64) -> io::Result<Option<String>> {
        let Some(name) = file_name(token) else {
            return Ok(None);
        };
        let path = self.dir.join(name);
        let body = match tokio::fs::read(&path).await {
            Ok(body) => body,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match serde_json::from_slice::<Record>(&body) {
            Ok(record) if live(&record, now) => Ok(Some(record.user)),
            _ => {
                // The session is refused either way; the sweep retries the removal.
                if let Err(err) = remove(&path).await {
                    tracing::warn!(%err, file = %path.display(), "could not remove a dead UI session");
                }
                Ok(None)
            }
        }
    }

    /// Ends the session `token` names; nothing happens if there is none.
    pub(super) async fn delete(&self, token: &str) -> io::Result<()> {
        match file_name(token) {
            Some(name) => remove(&self.dir.join(name)).await,
            None => Ok(()),
        }
    }

    /// Removes every session that is no longer live at `now`, and temporary
    /// files older than a session could be. Returns how many files went.
    pub(crate) async fn sweep(&self, now: i64) -> io::Result<usize> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || sweep_dir(&dir, now))
            .await
            .map_err(io::Error::other)?
    }
}

/// Live: not expired, and not lasting longer than a session can, which only
/// a clock set back since the login (or a file written by hand) would make.
fn live(record: &Record, now: i64) -> bool {
    now < record.expires && record.expires <= now.saturating_add(MAX_AGE)
}

/// 32 bytes from the operating system's generator, base64url without padding.
fn new_token() -> io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(io::Error::other)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The file of a token, or `None` when the token is not one the node could
/// have issued (so no file is even looked for).
fn file_name(token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    if bytes.len() != TOKEN_BYTES {
        return None;
    }
    Some(format!(
        "{FILE_PREFIX}{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    ))
}

async fn remove(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sweep_dir(dir: &Path, now: i64) -> io::Result<usize> {
    let sessions = list(dir)?.into_iter().filter(|entry| {
        let name = entry.file_name();
        // Unreadable or corrupt files can authenticate nobody either.
        name.to_string_lossy().starts_with(FILE_PREFIX)
            && std::fs::read(entry.path())
                .ok()
                .and_then(|body| serde_json::from_slice::<Record>(&body).ok())
                .is_none_or(|record| !live(&record, now))
    });
    // What a crash left of `write_atomic`, once older than any session.
    let temporaries = list(&dir.join(UPLOADS_DIR))?.into_iter().filter(|entry| {
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        age.is_some_and(|age| age.as_secs() >= MAX_AGE.unsigned_abs())
    });
    let mut removed = 0;
    for entry in sessions.chain(temporaries) {
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The entries of `dir`; none when it does not exist yet.
fn list(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn store() -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::new(dir.path());
        (dir, sessions)
    }

    /// The session files, and the temporaries as `.uploads/<name>`.
    fn files(sessions: &Sessions) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (dir, prefix) in [
            (sessions.dir.clone(), ""),
            (sessions.dir.join(UPLOADS_DIR), ".uploads/"),
        ] {
            for entry in list(&dir).unwrap() {
                if entry.file_type().unwrap().is_file() {
                    names.push(format!(
                        "{prefix}{}",
                        entry.file_name().into_string().unwrap()
                    ));
                }
            }
        }
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_session_is_found_until_it_expires_then_removed() {
        let (_dir, sessions) = store();
        let login = sessions.create("alice", NOW).await.unwrap();
        assert_eq!(login.expires, NOW + 7200);
        assert_eq!(login.token.len(), 43);
        assert!(login
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let expected = format!(
            "session_{}",
            hex::encode(Sha256::digest(login.token.as_bytes()))
        );
        assert_eq!(files(&sessions), std::slice::from_ref(&expected));
        // The file names the user and the expiry, never the token.
        let body = std::fs::read_to_string(sessions.dir.join(&expected)).unwrap();
        assert_eq!(body, r#"{"user":"alice","expires":1800007200}"#);

        for now in [NOW, NOW + 7199] {
            assert_eq!(
                sessions.lookup(&login.token, now).await.unwrap().as_deref(),
                Some("alice")
            );
        }
        assert_eq!(
            sessions.lookup(&login.token, NOW + 7200).await.unwrap(),
            None
        );
        assert!(
            files(&sessions).is_empty(),
            "an expired session met is removed"
        );
    }

    #[tokio::test]
    async fn tokens_are_fresh_and_delete_ends_only_their_session() {
        let (_dir, sessions) = store();
        let a = sessions.create("alice", NOW).await.unwrap();
        let b = sessions.create("alice", NOW).await.unwrap();
        assert_ne!(a.token, b.token);
        sessions.delete(&a.token).await.unwrap();
        assert_eq!(sessions.lookup(&a.token, NOW).await.unwrap(), None);
        assert_eq!(
            sessions.lookup(&b.token, NOW).await.unwrap().as_deref(),
            Some("alice")
        );
        // Deleting twice, or a token never issued, is no error.
        sessions.delete(&a.token).await.unwrap();
        sessions.delete("garbage").await.unwrap();
    }

    #[tokio::test]
    async fn invalid_or_tampered_tokens_are_refused() {
        let (_dir, sessions) = store();
        let login = sessions.create("alice", NOW).await.unwrap();
        let mut flipped = login.token.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let file = files(&sessions).remove(0);
        for token in [
            flipped.as_str(),
            &login.token[..42],
            &format!("{}A", login.token),
            &format!("{}=", login.token),
            "",
            "not base64!",
            // The file name is no cookie.
            &file,
            file.trim_start_matches("session_"),
            "../../etc/passwd",
        ] {
            assert_eq!(sessions.lookup(token, NOW).await.unwrap(), None, "{token}");
        }
        assert_eq!(
            sessions.lookup(&login.token, NOW).await.unwrap().as_deref(),
            Some("alice")
        );
    }

    #[tokio::test]
    async fn a_session_from_the_future_or_a_corrupt_file_is_refused() {
        let (_dir, sessions) = store();
        let login = sessions.create("alice", NOW).await.unwrap();
        // The clock went back an hour since the login.
        assert_eq!(
            sessions.lookup(&login.token, NOW - 3600).await.unwrap(),
            None
        );
        let login = sessions.create("alice", NOW).await.unwrap();
        let file = sessions.dir.join(file_name(&login.token).unwrap());
        std::fs::write(&file, b"{not json").unwrap();
        assert_eq!(sessions.lookup(&login.token, NOW).await.unwrap(), None);
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn the_sweep_removes_expired_and_corrupt_files_and_stale_temporaries() {
        let (_dir, sessions) = store();
        assert_eq!(sessions.sweep(NOW).await.unwrap(), 0, "no directory yet");
        let old = sessions.create("old", NOW - 7200).await.unwrap();
        let ending = sessions.create("ending", NOW - 7199).await.unwrap();
        let fresh = sessions.create("fresh", NOW).await.unwrap();
        std::fs::write(sessions.dir.join("session_corrupt"), b"").unwrap();
        let new_tmp = sessions.dir.join(UPLOADS_DIR).join("write.new");
        std::fs::write(&new_tmp, b"{").unwrap();
        let old_tmp = sessions.dir.join(UPLOADS_DIR).join("write.old");
        std::fs::write(&old_tmp, b"{").unwrap();
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7300);
        std::fs::File::options()
            .write(true)
            .open(&old_tmp)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();

        assert_eq!(sessions.sweep(NOW).await.unwrap(), 3);
        let mut left = vec![
            file_name(&ending.token).unwrap(),
            file_name(&fresh.token).unwrap(),
            ".uploads/write.new".to_owned(),
        ];
        left.sort();
        assert_eq!(files(&sessions), left);
        assert_eq!(sessions.lookup(&old.token, NOW).await.unwrap(), None);

        assert_eq!(sessions.sweep(NOW + 1).await.unwrap(), 1);
        assert_eq!(sessions.sweep(NOW + 7200).await.unwrap(), 1);
        assert_eq!(files(&sessions), [".uploads/write.new"]);
    }
}
