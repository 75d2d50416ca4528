//! The gateway's one error type, mapped once to the wire: OCI error JSON naming the cause (and the member).

use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;
use serde::Serialize;

use flotilla_protocol::oci_error::{ErrorCode, OciError};

/// Everything the gateway itself can fail with. Members' own errors are not
/// here: they pass through to the client as the member wrote them.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The member that owns the request is down or refused the connection.
    #[error("member {member} is unavailable: {reason}")]
    MemberUnavailable { member: String, reason: String },
    /// The member accepted the connection but did not answer in time.
    #[error("member {member} did not answer within {after:?}")]
    MemberTimeout { member: String, after: Duration },
    /// The member stopped taking the request body for the stall bound.
    #[error("member {member} took no byte of the request body for {after:?}")]
    MemberStalled { member: String, after: Duration },
    /// The client's request body failed: malformed, or cut short by a
    /// disconnect. The client's error, not a member's.
    #[error("the request body could not be read: {reason}")]
    ClientBody { reason: String },
    /// The client sent no byte of its request body for the stall bound.
    #[error("the request body stalled: no byte for {after:?}")]
    ClientStalled { after: Duration },
    /// The member answered something the gateway cannot use (a fan-out page
    /// that is not JSON, over the size limit, a Link to another host).
    #[error("member {member} answered badly: {reason}")]
    BadMember { member: String, reason: String },
    /// The member answered 404 on zot's search endpoint: it runs without the
    /// search extension, which is a config to fix, not an outage.
    #[error("member {member} has no search extension: /v2/_zot/ext/search answered 404 (switch on extensions.search in its config)")]
    NoSearch { member: String },
    /// The request came from a gateway: a member address points back at one.
    #[error("request already passed through a Flotilla gateway")]
    Loop,
    /// No member is reachable at all.
    #[error("no member is reachable")]
    NoMember,
    /// A protocol error the gateway answers itself, as a node would.
    #[error("{0:?}")]
    Oci(StatusCode, OciError),
    /// The gateway's memory budget for merges is held by other requests.
    #[error("the gateway's merge budget (limits.mergeBudgetBytes, {limit} bytes) is in use by other requests")]
    MergeBudget { limit: usize },
    /// A UI login (Basic credentials with zui's header) on a gateway that
    /// has no way to keep a session every gateway can open.
    #[error("UI logins are off on this gateway: set http.auth.sessionKeysFile or a redis http.auth.sessionDriver in its config")]
    SessionsOff,
    /// The shared session store (Redis) did not answer.
    #[error("the session store is unavailable: {reason}")]
    SessionStore { reason: String },
    /// Several members failed one fan-out (each one that had not finished
    /// when its deadline passed, say); the answer names every one.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Members(Vec<GatewayError>),
}

#[derive(Serialize)]
struct Wire<'a> {
    code: &'a str,
    message: &'a str,
    detail: BTreeMap<&'static str, String>,
}

impl GatewayError {
    pub(crate) fn name_invalid(name: &str) -> Self {
        Self::Oci(
            StatusCode::BAD_REQUEST,
            OciError::new(ErrorCode::NameInvalid).with("name", name),
        )
    }

    /// A request target that is not a path (`GET *`, `CONNECT host:port`).
    pub(crate) fn bad_target(target: &str) -> Self {
        Self::Oci(
            StatusCode::BAD_REQUEST,
            OciError::new(ErrorCode::Unsupported).with("target", target),
        )
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MemberUnavailable { .. }
            | Self::NoMember
            | Self::MergeBudget { .. }
            | Self::SessionStore { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionsOff => StatusCode::NOT_IMPLEMENTED,
            Self::Members(all) => all
                .first()
                .map_or(StatusCode::SERVICE_UNAVAILABLE, Self::status),
            Self::MemberTimeout { .. } | Self::MemberStalled { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::ClientBody { .. } => StatusCode::BAD_REQUEST,
            Self::ClientStalled { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::BadMember { .. } | Self::NoSearch { .. } => StatusCode::BAD_GATEWAY,
            Self::Loop => StatusCode::LOOP_DETECTED,
            Self::Oci(status, _) => *status,
        }
    }

    /// The member at fault, if one is.
    pub(crate) fn member(&self) -> Option<&str> {
        match self {
            Self::MemberUnavailable { member, .. }
            | Self::MemberTimeout { member, .. }
            | Self::MemberStalled { member, .. }
            | Self::BadMember { member, .. }
            | Self::NoSearch { member } => Some(member),
            _ => None,
        }
    }

    /// `{"errors":[…]}` in the OCI shape. The codes beyond the spec's own
    /// (`UNAVAILABLE`, `TIMEOUT`, `BODY_INVALID`, `LOOP_DETECTED`) follow its pattern, and
    /// `detail.member` names the member so an operator knows where to look.
    pub(crate) fn body(&self) -> Vec<u8> {
        let errors: Vec<serde_json::Value> = match self {
            Self::Members(all) => all.iter().map(Self::wire).collect(),
            one => vec![one.wire()],
        };
        serde_json::to_vec(&serde_json::json!({ "errors": errors })).unwrap_or_default()
    }

    /// One entry of the OCI `errors` list.
    fn wire(&self) -> serde_json::Value {
        let (code, message) = match self {
            Self::Oci(_, error) => return serde_json::json!(error),
            Self::MemberUnavailable { .. } | Self::NoMember | Self::Members(_) => {
                ("UNAVAILABLE", "registry member unavailable")
            }
            Self::MemberTimeout { .. } | Self::MemberStalled { .. } => {
                ("TIMEOUT", "registry member timed out")
            }
            Self::ClientBody { .. } => ("BODY_INVALID", "request body could not be read"),
            Self::ClientStalled { .. } => ("TIMEOUT", "request body stalled"),
            Self::BadMember { .. } => ("UNAVAILABLE", "registry member answered badly"),
            Self::NoSearch { .. } => ("UNSUPPORTED", "registry member has no search extension"),
            Self::MergeBudget { .. } => ("UNAVAILABLE", "gateway merge budget exhausted"),
            Self::Loop => ("LOOP_DETECTED", "request loop detected"),
            Self::SessionsOff => ("UNSUPPORTED", "UI login is not configured"),
            Self::SessionStore { .. } => ("UNAVAILABLE", "session store unavailable"),
        };
        let mut detail = BTreeMap::new();
        detail.insert("description", self.to_string());
        if let Some(member) = self.member() {
            detail.insert("member", member.to_owned());
        }
        serde_json::json!(Wire {
            code,
            message,
            detail
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_errors_name_the_member() {
        let err = GatewayError::MemberUnavailable {
            member: "10.0.0.2:5000".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(&err.body()).unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
        assert_eq!(body["errors"][0]["detail"]["member"], "10.0.0.2:5000");
        assert!(body["errors"][0]["detail"]["description"]
            .as_str()
            .unwrap()
            .contains("connection refused"));
    }

    #[test]
    fn a_fan_out_that_lost_several_members_names_each() {
        let err = GatewayError::Members(vec![
            GatewayError::MemberTimeout {
                member: "a:1".into(),
                after: Duration::from_secs(2),
            },
            GatewayError::MemberTimeout {
                member: "b:2".into(),
                after: Duration::from_secs(2),
            },
        ]);
        assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
        let body: serde_json::Value = serde_json::from_slice(&err.body()).unwrap();
        assert_eq!(body["errors"][0]["detail"]["member"], "a:1");
        assert_eq!(body["errors"][1]["detail"]["member"], "b:2");
        assert_eq!(body["errors"][1]["code"], "TIMEOUT");
    }

    #[test]
    fn loops_are_508() {
        assert_eq!(GatewayError::Loop.status().as_u16(), 508);
        let body: serde_json::Value = serde_json::from_slice(&GatewayError::Loop.body()).unwrap();
        assert_eq!(body["errors"][0]["code"], "LOOP_DETECTED");
    }

    #[test]
    fn invalid_names_are_answered_as_a_node_would() {
        let err = GatewayError::name_invalid("../x");
        let body: serde_json::Value = serde_json::from_slice(&err.body()).unwrap();
        assert_eq!(body["errors"][0]["code"], "NAME_INVALID");
        assert_eq!(body["errors"][0]["detail"]["name"], "../x");
    }
}
