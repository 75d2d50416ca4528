//! Sealing a session into its cookie (or its Redis entry) with authenticated encryption, so only a gateway holding the key can read or forge one.
//!
//! A sealed value is `base64url(version ‖ nonce ‖ XChaCha20-Poly1305(claims))`.
//! The 24-byte nonce is random, so one key seals any number of sessions
//! safely. The key is derived with HKDF-SHA256 from zot's `hashKey` and
//! `encryptKey` (zot uses them for HMAC and AES; one AEAD does both jobs
//! here, and both keys feed it). A value that was altered, or sealed under
//! a key the gateway no longer holds, does not open.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The first byte of every sealed value: a format change is refused, not misread.
const VERSION: u8 = 1;
const NONCE: usize = 24;
/// Binds a sealed value to its use: a cookie sealed for one purpose never
/// opens as another.
const CONTEXT: &[u8] = b"flotilla session v1";
/// zot recommends 32 or 64 bytes; shorter is refused, not weakened silently.
const MIN_HASH_KEY: usize = 32;

/// What a session holds: who logged in, the credentials members check on
/// each request, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) user: String,
    /// The client's `Authorization` value at login, sent on its behalf.
    pub(crate) authorization: String,
    /// Unix seconds.
    pub(crate) expires: u64,
}

/// One AEAD key.
#[derive(Clone)]
pub(crate) struct Key(XChaCha20Poly1305);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

impl Key {
    /// The key for `ikm`, by HKDF-SHA256 under `label`.
    pub(crate) fn derive(ikm: &[u8], label: &[u8]) -> Self {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(CONTEXT), ikm)
            .expand(label, &mut key)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
        Self(XChaCha20Poly1305::new(&key.into()))
    }

    pub(crate) fn seal(&self, claims: &Claims) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(claims).unwrap_or_default();
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: CONTEXT,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub(crate) fn open(&self, value: &str) -> Option<Claims> {
        let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != VERSION || rest.len() < NONCE {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: CONTEXT,
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// zot's `sessionKeysFile`, plus Flotilla's `previous` for rotation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysFile {
    hash_key: String,
    #[serde(default)]
    encrypt_key: Option<String>,
    #[serde(default)]
    previous: Vec<KeysFile>,
}

/// The keys of `sessionKeysFile`: the current pair seals and opens; the
/// previous pairs only open, so sessions sealed before a rotation live out
/// their two hours.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    current: Key,
    previous: Vec<Key>,
}

impl Keys {
    /// Reads the file; errors name it and what is wrong.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("http.auth.sessionKeysFile: {}: {e}", path.display()))?;
        let file: KeysFile = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "http.auth.sessionKeysFile: {}: {e} (want {{\"hashKey\": \"…\", \"encryptKey\": \"…\"}})",
                path.display()
            )
        })?;
        let key = |pair: &KeysFile| -> anyhow::Result<Key> {
            if pair.hash_key.len() < MIN_HASH_KEY {
                anyhow::bail!(
                    "http.auth.sessionKeysFile: {}: hashKey has {} bytes; use at least {MIN_HASH_KEY} random bytes",
                    path.display(),
                    pair.hash_key.len()
                );
            }
            let mut ikm = (pair.hash_key.len() as u64).to_be_bytes().to_vec();
            ikm.extend_from_slice(pair.hash_key.as_bytes());
            ikm.extend_from_slice(pair.encrypt_key.as_deref().unwrap_or_default().as_bytes());
            Ok(Key::derive(&ikm, b"cookie"))
        };
        Ok(Self {
            current: key(&file)?,
            previous: file.previous.iter().map(key).collect::<Result<_, _>>()?,
        })
    }

    pub(crate) fn seal(&self, claims: &Claims) -> String {
        self.current.seal(claims)
    }

    pub(crate) fn open(&self, value: &str) -> Option<Claims> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find_map(|key| key.open(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            user: "dev".into(),
            authorization: "Basic ZGV2OmRldi1zZWNyZXQ=".into(),
            expires: 1_800_000_000,
        }
    }

    fn keys(text: &str) -> anyhow::Result<Keys> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, text).unwrap();
        Keys::load(&path)
    }

    const A: &str = "3lrioGLGO2RfG9Y7HQGgWa3ayBjMLw2auMXqEWcSXjQKc9SoQ3fKTIbO+toPYa7e";
    const B: &str = "a-second-key-of-at-least-thirty-two-bytes!";

    #[test]
    fn a_sealed_session_opens_only_unaltered_and_under_its_key() {
        let a = keys(&format!(
            r#"{{"hashKey":"{A}","encryptKey":"KOzt01JrDz2uC//UBC5ZikxQw4owfmI8"}}"#
        ))
        .unwrap();
        let sealed = a.seal(&claims());
        assert_eq!(a.open(&sealed), Some(claims()));
        assert!(
            !sealed.contains("dev"),
            "the claims are not readable: {sealed}"
        );
        // Every single-character change is refused.
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != sealed {
                assert_eq!(a.open(&altered), None, "position {i}");
            }
        }
        let b = keys(&format!(r#"{{"hashKey":"{B}"}}"#)).unwrap();
        assert_eq!(b.open(&sealed), None);
        // The encryptKey is part of the key.
        let a_other = keys(&format!(r#"{{"hashKey":"{A}","encryptKey":"other"}}"#)).unwrap();
        assert_eq!(a_other.open(&sealed), None);
        assert_eq!(a.open(""), None);
        assert_eq!(a.open("not base64 !"), None);
    }

    #[test]
    fn after_a_rotation_old_sessions_open_and_new_ones_use_the_new_key() {
        let old = keys(&format!(r#"{{"hashKey":"{A}"}}"#)).unwrap();
        let sealed_before = old.seal(&claims());
        let rotated = keys(&format!(
            r#"{{"hashKey":"{B}","previous":[{{"hashKey":"{A}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(rotated.open(&sealed_before), Some(claims()));
        let sealed_after = rotated.seal(&claims());
        assert_eq!(old.open(&sealed_after), None);
    }

    #[test]
    fn short_or_malformed_key_files_are_refused_by_name() {
        let err = keys(r#"{"hashKey":"my-very-secret"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hashKey has 14 bytes"), "{err}");
        let err = keys(r#"{"encryptKey":"x"}"#).unwrap_err().to_string();
        assert!(
            err.contains("sessionKeysFile") && err.contains("hashKey"),
            "{err}"
        );
    }
}
