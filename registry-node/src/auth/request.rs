//! What a request presents to authentication, read exactly as zot's authn helpers read headers.

use std::fmt::Write as _;

use base64::Engine as _;
use http::{header, HeaderMap, Uri};

/// zui's header (`constants.SessionClientHeaderName/Value`): it asks for cookie
/// sessions and for no `WWW-Authenticate`, so browsers show no login prompt.
pub(super) const UI_HEADER: &str = "x-zot-api-client";
const UI_VALUE: &[u8] = b"zot-ui";

/// The one request URI zot lets through without credentials whatever the policies say.
const MGMT_URI: &str = "/v2/_zot/ext/mgmt";

/// What a request presents, read as zot's authn helpers read it.
pub(super) struct Presented<'a> {
    pub(super) several_authorizations: bool,
    /// The first `Authorization` value, unless zot's `isAuthorizationHeaderEmpty`
    /// holds: absent, empty, or `Basic Og==` (an empty user and password).
    pub(super) authorization: Option<&'a [u8]>,
    pub(super) ui: bool,
    /// The `session` cookie, which only zui's requests are authenticated by.
    pub(super) session: Option<&'a str>,
    pub(super) mgmt: bool,
    /// The path is `/v2` or `/v2/`.
    pub(super) version_check: bool,
    /// Docker's CLI (`Docker-Client/…`) or its daemon (`docker/…`).
    pub(super) docker: bool,
}

impl<'a> Presented<'a> {
    pub(super) fn read(uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case(b"basic og=="));
        let agent = headers
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        let path = uri.path();
        Self {
            several_authorizations: headers.get_all(header::AUTHORIZATION).iter().count() > 1,
            authorization,
            ui: from_ui(headers),
            session: flotilla_protocol::session_cookie::find(
                headers,
                flotilla_protocol::session_cookie::SESSION,
            ),
            // zot compares Go's RequestURI, query included.
            mgmt: uri
                .path_and_query()
                .is_some_and(|pq| pq.as_str() == MGMT_URI),
            version_check: path.strip_suffix('/').unwrap_or(path) == "/v2",
            docker: contains(agent, b"Docker-Client") || agent.starts_with(b"docker/"),
        }
    }
}

pub(super) fn from_ui(headers: &HeaderMap) -> bool {
    headers
        .get(UI_HEADER)
        .is_some_and(|v| v.as_bytes() == UI_VALUE)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// zot's `getUsernamePasswordBasicAuth`: `<scheme> <base64>`, scheme `basic` in
/// any case, split at the first space, standard padded base64 (Go tolerates
/// stray low bits), then `user:password` split at the first `:`.
pub(super) fn basic_credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, encoded) = (&value[..space], &value[space + 1..]);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = GO_STD.decode(encoded).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    // A user name that is not UTF-8 cannot be in the htpasswd file.
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Go's `strconv.Quote`, which zot applies to the realm of its 401 challenges.
pub(super) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
