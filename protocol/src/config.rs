//! The configuration both binaries read the way zot defines it: `http.tls`, `log`, ports written as strings, Go-style durations, and errors that name the key at fault.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config key `{path}`: {message}")]
    Parse { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

/// zot's `TLSConfig`: PEM files for a certificate, its key, and a CA.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
}

impl TlsConfig {
    /// Each file named can be read; errors name the key (`keys`: cert, key, cacert) and the path.
    pub fn check_files(&self, keys: [&'static str; 3]) -> Result<(), ConfigError> {
        for (key, path) in keys.into_iter().zip([&self.cert, &self.key, &self.cacert]) {
            if let Some(path) = path {
                readable(key, path)?;
            }
        }
        Ok(())
    }
}

/// Fails, naming `key` and the path, unless `path` is a file this process can read.
pub fn readable(key: &'static str, path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path)
        // Opening a directory succeeds; reading it does not.
        .and_then(|mut file| file.read(&mut [0u8; 1]))
        .map(drop)
        .map_err(|err| ConfigError::Invalid {
            key,
            message: format!("cannot read `{}`: {err}", path.display()),
        })
}

/// `log`: verbosity and where logs go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LogConfig {
    /// `debug`, `info` (default), `warn`, `error`.
    pub level: Option<String>,
    /// A file to log to; accepted with a warning, logs go to stderr.
    pub output: Option<String>,
    /// zot's audit log file; refused, the node writes none.
    pub audit: Option<String>,
}

/// A port written as zot writes it (`"5000"`) or as a number.
pub fn port<'de, D: Deserializer<'de>>(de: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Port::deserialize(de)? {
        Port::Number(n) => Ok(n),
        Port::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a port number"))),
    }
}

/// Parses any config document; errors name the key at fault (`http.port`).
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| ConfigError::Parse {
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

impl LogConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.level.as_deref() {
            None | Some("trace" | "debug" | "info" | "warn" | "error") => Ok(()),
            Some(level) => Err(ConfigError::Invalid {
                key: "log.level",
                message: format!("`{level}` is not one of trace, debug, info, warn, error"),
            }),
        }
    }
}

/// A Go-style duration (`"3s"`, `"250ms"`, `"2m"`).
pub fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("`{text}` is not a duration like \"3s\": {e}"))
    })
}
