//! The OCI error wire format as zot writes it: the codes, their fixed messages and descriptions, and one error object.

use std::collections::BTreeMap;

use serde::Serialize;

/// The OCI distribution error codes zot emits, with zot's exact messages and
/// descriptions (`pkg/api/errors/errors.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
}

impl ErrorCode {
    /// The `code` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
        }
    }

    /// zot's fixed `message`.
    pub fn message(self) -> &'static str {
        match self {
            Self::BlobUnknown | Self::ManifestBlobUnknown => "blob unknown to registry",
            Self::BlobUploadInvalid => "blob upload invalid",
            Self::BlobUploadUnknown => "blob upload unknown to registry",
            Self::DigestInvalid => "provided digest did not match uploaded content",
            Self::ManifestInvalid => "manifest invalid",
            Self::ManifestUnknown => "manifest unknown",
            Self::NameInvalid => "invalid repository name",
            Self::NameUnknown => "repository name not known to registry",
            Self::SizeInvalid => "provided length did not match content length",
            Self::Unauthorized => "authentication required",
            Self::Denied => "requested access to the resource is denied",
            Self::Unsupported => "the operation is unsupported",
            Self::TooManyRequests => "too many requests",
        }
    }

    /// zot's `detail.description`, byte for byte (including its odd spacing).
    pub fn description(self) -> &'static str {
        match self {
            Self::BlobUnknown => concat!(
                "blob unknown to registry \tThis error MAY be returned when a blob is unknown ",
                " to the registry in a specified repository. This can be returned with a standard get or ",
                "if a manifest references an unknown layer during upload."
            ),
            Self::BlobUploadInvalid => "The blob upload encountered an error and can no longer proceed.",
            Self::BlobUploadUnknown => {
                "If a blob upload has been cancelled or was never started, this error code MAY be returned."
            }
            Self::DigestInvalid => concat!(
                "When a blob is uploaded, the registry will check that the content matches the ",
                "digest provided by the client. The error MAY include a detail structure with the key ",
                "\"digest\", including the invalid digest string. This error MAY also be returned when ",
                "a manifest includes an invalid layer digest."
            ),
            Self::ManifestBlobUnknown => {
                "This error MAY be returned when a manifest blob is unknown to the registry."
            }
            Self::ManifestInvalid => concat!(
                "During upload, manifests undergo several checks ensuring ",
                "validity. If those checks fail, this error MAY be returned, unless a more ",
                "specific error is included. The detail will contain information the failed validation."
            ),
            Self::ManifestUnknown => concat!(
                "This error is returned when the manifest, identified by name ",
                "and tag is unknown to the repository."
            ),
            Self::NameInvalid => concat!(
                "Invalid repository name encountered either during manifest ",
                "validation or any API operation."
            ),
            Self::NameUnknown => {
                "This is returned if the name used during an operation is unknown to the registry."
            }
            Self::SizeInvalid => concat!(
                "When a layer is uploaded, the provided size will be checked against ",
                "the uploaded content. If they do not match, this error will be returned."
            ),
            Self::Unauthorized => concat!(
                "The access controller was unable to authenticate the client. ",
                "Often this will be accompanied by a WWW-Authenticate HTTP response header ",
                "indicating how to authenticate."
            ),
            Self::Denied => "The access controller denied access for the operation on a resource.",
            Self::Unsupported => concat!(
                "The operation was unsupported due to a missing ",
                "implementation or invalid set of parameters."
            ),
            Self::TooManyRequests => {
                "When a user or users has sent too many requests to the server within a given amount of time."
            }
        }
    }
}

/// One OCI error object as zot writes it: `detail` is a string map whose keys
/// come out sorted, as Go's JSON encoder writes maps.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OciError {
    pub code: &'static str,
    pub message: &'static str,
    pub detail: BTreeMap<String, String>,
}

impl OciError {
    pub fn new(code: ErrorCode) -> Self {
        let mut detail = BTreeMap::new();
        detail.insert("description".to_owned(), code.description().to_owned());
        Self {
            code: code.as_str(),
            message: code.message(),
            detail,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}
