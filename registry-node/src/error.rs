//! The node's one error type, and its single mapping to the wire: OCI error JSON (zot-reference §4).

use http::StatusCode;

pub use flotilla_protocol::oci_error::{ErrorCode, OciError};

/// Everything a request can fail with. Each variant knows its status and body;
/// [`NodeError::status`] and [`NodeError::body`] are the only mapping to the wire.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A handler error answered as `{"errors":[...]}` with the given status.
    #[error("{status}: {}", .error.code)]
    Oci { status: StatusCode, error: OciError },
    /// Authentication failed: zot writes a single error object, not a list (§4.1).
    #[error("authentication required")]
    Unauthenticated { www_authenticate: Option<String> },
    /// Anonymous and not permitted: 401 with the list form and a challenge.
    #[error("anonymous access denied")]
    AnonymousDenied { www_authenticate: Option<String> },
    /// zot answers many protocol errors with a bare status and an empty body.
    #[error("{0}")]
    Status(StatusCode),
    /// An unsatisfiable blob range: 416 with `Content-Range: bytes */<size>`.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// Storage failed underneath a request; logged, answered 500 with an empty body.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    /// Invariant broken in stored data (an unreadable index.json, say).
    #[error("corrupt storage: {0}")]
    Corrupt(String),
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

impl NodeError {
    pub fn oci(status: StatusCode, code: ErrorCode) -> Self {
        Self::Oci {
            status,
            error: OciError::new(code),
        }
    }

    /// Adds a `detail` entry; a no-op for variants without a body.
    pub fn with(self, key: &str, value: impl Into<String>) -> Self {
        match self {
            Self::Oci { status, error } => Self::Oci {
                status,
                error: error.with(key, value),
            },
            other => other,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Oci { status, .. } => *status,
            Self::Unauthenticated { .. } | Self::AnonymousDenied { .. } => StatusCode::UNAUTHORIZED,
            Self::Status(status) => *status,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Io(_) | Self::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body, or `None` where zot sends an empty body.
    pub fn body(&self) -> Option<Vec<u8>> {
        let value = match self {
            Self::Oci { error, .. } => serde_json::json!({ "errors": [error] }),
            Self::Unauthenticated { .. } => {
                serde_json::to_value(OciError::new(ErrorCode::Unauthorized)).ok()?
            }
            Self::AnonymousDenied { .. } => {
                serde_json::json!({ "errors": [OciError::new(ErrorCode::Unauthorized)] })
            }
            Self::Status(_) | Self::RangeNotSatisfiable { .. } | Self::Io(_) | Self::Corrupt(_) => {
                return None
            }
        };
        serde_json::to_vec(&value).ok()
    }

    /// Extra headers the error carries.
    pub fn headers(&self) -> Vec<(http::HeaderName, String)> {
        match self {
            Self::Unauthenticated {
                www_authenticate: Some(challenge),
            }
            | Self::AnonymousDenied {
                www_authenticate: Some(challenge),
            } => vec![(http::header::WWW_AUTHENTICATE, challenge.clone())],
            Self::RangeNotSatisfiable { size } => {
                vec![(http::header::CONTENT_RANGE, format!("bytes */{size}"))]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_unknown_is_byte_identical_to_zot() {
        let err = NodeError::oci(StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown)
            .with("reference", "latest");
        let body = String::from_utf8(err.body().unwrap()).unwrap();
        assert_eq!(
            body,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"description":"This error is returned when the manifest, identified by name and tag is unknown to the repository.","reference":"latest"}}]}"#
        );
    }

    #[test]
    fn authentication_failure_is_a_single_object() {
        let err = NodeError::Unauthenticated {
            www_authenticate: Some("Basic realm=\"x\"".into()),
        };
        let body: serde_json::Value = serde_json::from_slice(&err.body().unwrap()).unwrap();
        assert_eq!(body["code"], "UNAUTHORIZED");
        assert!(body.get("errors").is_none());
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn empty_body_errors_have_no_body() {
        assert!(NodeError::Status(StatusCode::BAD_REQUEST).body().is_none());
        let range = NodeError::RangeNotSatisfiable { size: 10 };
        assert_eq!(range.headers()[0].1, "bytes */10");
    }
}
