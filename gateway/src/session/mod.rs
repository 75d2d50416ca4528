//! zot's UI login, terminated at the gateway: a member's session means nothing to the other members, so the gateway issues its own and turns it into the user's credentials on every member request.
//!
//! zui logs in with `GET /v2/`, Basic credentials and `X-ZOT-API-CLIENT:
//! zot-ui`; from then on it sends only the `session` cookie and the header.
//! The gateway:
//! - **login**: passes the `/v2/` request to a member, which checks the
//!   credentials; on its `200` the gateway sets its own `session` and `user`
//!   cookies (zot's names, attributes and two-hour lifetime);
//! - **use**: a UI request without `Authorization` but with a session that
//!   opens gets the user's `Authorization` from the session, for every member
//!   it reaches (fan-outs included). Members check the credentials each time,
//!   so a password changed or a user removed ends the session too;
//! - **refusal**: a session that does not open (altered, expired, logged
//!   out, sealed by keys this gateway lacks) is answered as zot answers it:
//!   the cookie expired, and the request goes on anonymous;
//! - **logout**: `POST /zot/auth/logout` expires both cookies, and with the
//!   shared store ends the session on every gateway.
//!
//! Either way, no member's `Set-Cookie` reaches the client (`proxy`), the gateway's
//! cookies never reach a member, and a request carrying credentials is sent
//! without the UI header, so a zot member opens no session of its own.
//! Sessions are sealed cookies under `http.auth.sessionKeysFile`
//! ([`seal`]) or entries in a shared Redis ([`shared`]).

mod cookie;
mod seal;
mod shared;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use crate::client::Client;
use crate::config::Config;
use crate::error::GatewayError;
use crate::response::{self, Body};
use crate::route::Route;
use crate::state::Gateway;
use cookie::SetCookies;
use seal::{Claims, Keys};
use shared::Shared;
use time::OffsetDateTime;

/// zot's `cookiesMaxAge`.
pub(crate) const LIFETIME: Duration =
    Duration::from_secs(flotilla_protocol::session_cookie::MAX_AGE as u64);

/// zui's header (`constants.SessionClientHeaderName/Value`).
const UI_HEADER: &str = "x-zot-api-client";
const UI_VALUE: &[u8] = b"zot-ui";

/// Where UI sessions are kept.
#[derive(Debug, Clone)]
pub(crate) enum Sessions {
    /// Neither keys nor a store: UI logins are refused.
    Off,
    /// Sealed cookies; any gateway with the same keys file opens them.
    Sealed(Keys),
    /// A shared Redis.
    Shared(Arc<Shared>),
}

impl Sessions {
    /// The sessions `config` asks for; a store already connected (`before`)
    /// is kept when the driver is unchanged. Reads the keys file anew, so a
    /// reload picks up rotated keys.
    pub(crate) fn new(config: &Config, before: Option<&Sessions>) -> anyhow::Result<Self> {
        let Some(auth) = &config.http.auth else {
            return Ok(Self::Off);
        };
        if let Some(driver) = auth.session_driver.as_ref().filter(|d| d.name == "redis") {
            if let Some(Self::Shared(store)) = before {
                if store.is(driver) {
                    return Ok(Self::Shared(store.clone()));
                }
            }
            return Ok(Self::Shared(Arc::new(Shared::new(
                driver,
                config.timeouts.connect,
            )?)));
        }
        match &auth.session_keys_file {
            Some(path) => Ok(Self::Sealed(Keys::load(path)?)),
            None => Ok(Self::Off),
        }
    }

    /// What the start-up log should say about UI logins, if anything.
    pub(crate) fn warning(&self) -> Option<&'static str> {
        matches!(self, Self::Off).then_some(
            "UI logins are off: set http.auth.sessionKeysFile (the same file on every gateway) or a redis http.auth.sessionDriver; a UI login is answered 501 until then",
        )
    }

    async fn issue(&self, claims: &Claims) -> Result<String, GatewayError> {
        match self {
            Self::Off => Err(GatewayError::SessionsOff),
            Self::Sealed(keys) => Ok(keys.seal(claims)),
            Self::Shared(store) => Box::pin(store.issue(claims, LIFETIME)).await,
        }
    }

    /// The live session a cookie names; `None` when it does not open or has expired.
    async fn open(&self, cookie: &str, now: u64) -> Result<Option<Claims>, GatewayError> {
        let claims = match self {
            Self::Off => None,
            Self::Sealed(keys) => keys.open(cookie),
            // Boxed: a round trip to the store is a future of kilobytes,
            // which every request's future would otherwise carry and move.
            Self::Shared(store) => Box::pin(store.open(cookie)).await?,
        };
        Ok(claims.filter(|c| c.expires > now))
    }
}

/// What the session layer did to one request, and owes its response.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    from_ui: bool,
    /// A login whose credentials a member is checking.
    login: Option<Claims>,
    /// The request's session did not open: tell the client, as zot does.
    refused: bool,
    secure: bool,
}

/// Reads and rewrites a request's head before it is routed: the gateway's
/// cookies come off, a session becomes the user's `Authorization`.
pub(crate) async fn inbound(
    gw: &Gateway,
    client: &Client,
    route: &Route,
    parts: &mut Parts,
) -> Result<Exchange, GatewayError> {
    if *route == Route::Logout {
        // The gateway answers it itself, from the session cookie.
        return Ok(Exchange::default());
    }
    let session = cookie::find(&parts.headers, cookie::SESSION).map(str::to_owned);
    cookie::strip(&mut parts.headers);
    if !from_ui(&parts.headers) {
        return Ok(Exchange::default());
    }
    let mut exchange = Exchange {
        from_ui: true,
        secure: secure(gw, client, &parts.headers),
        ..Exchange::default()
    };
    let now = unix(SystemTime::now());
    if let Some(authorization) = credentials(&parts.headers) {
        let version_check = matches!(parts.uri.path(), "/v2" | "/v2/");
        if version_check && parts.method == Method::GET {
            let user = basic_user(authorization);
            if let (Some(user), Ok(authorization)) = (user, authorization.to_str()) {
                if matches!(gw.sessions, Sessions::Off) {
                    return Err(GatewayError::SessionsOff);
                }
                exchange.login = Some(Claims {
                    user,
                    authorization: authorization.to_owned(),
                    expires: now + LIFETIME.as_secs(),
                });
            }
        }
        parts.headers.remove(UI_HEADER);
        return Ok(exchange);
    }
    let Some(session) = session else {
        return Ok(exchange);
    };
    match gw.sessions.open(&session, now).await? {
        Some(claims) => {
            let value = HeaderValue::from_str(&claims.authorization).map_err(|_| {
                GatewayError::SessionStore {
                    reason: "a session holds an unusable Authorization value".into(),
                }
            })?;
            parts.headers.insert(header::AUTHORIZATION, value);
            parts.headers.remove(UI_HEADER);
        }
        // zot's sessionAuthn: the member, asked without credentials and with
        // the UI header, lets the request in anonymously or refuses it.
        None => exchange.refused = true,
    }
    Ok(exchange)
}

impl Exchange {
    /// Makes the response right for the client: (for the UI) challenges
    /// off, the gateway's own cookies on. Members' cookies never got this
    /// far (`proxy` drops them).
    pub(crate) async fn outbound(
        self,
        gw: &Gateway,
        resp: Result<Response<Body>, GatewayError>,
    ) -> Result<Response<Body>, GatewayError> {
        let mut resp = resp?;
        let headers = resp.headers_mut();
        if self.from_ui {
            // A browser shown a Basic challenge opens its own login prompt.
            headers.remove(header::WWW_AUTHENTICATE);
        }
        let mut set = SetCookies::default();
        if self.refused {
            set.push(cookie::refused());
        }
        if let Some(claims) = self.login.filter(|_| resp.status() == StatusCode::OK) {
            let session = gw.sessions.issue(&claims).await?;
            let expires = OffsetDateTime::from_unix_timestamp(claims.expires as i64)
                .unwrap_or_else(|_| OffsetDateTime::now_utc());
            set.append(cookie::login(&session, &claims.user, expires, self.secure));
            tracing::info!(user = %claims.user, "UI login");
        }
        set.apply(&mut resp);
        Ok(resp)
    }
}

/// `POST /zot/auth/logout` (and its `OPTIONS` preflight), answered as zot's
/// `Logout` answers it: `200 {}` with both cookies expired. With the shared
/// store the session ends for every gateway; a sealed cookie cannot be
/// revoked, only dropped by the browser (and it ends within two hours).
pub(crate) async fn logout(gw: &Gateway, parts: &Parts) -> Result<Response<Body>, GatewayError> {
    let mut resp = match parts.method {
        Method::OPTIONS => response::empty(StatusCode::OK),
        Method::POST => {
            if let (Sessions::Shared(store), Some(session)) =
                (&gw.sessions, cookie::find(&parts.headers, cookie::SESSION))
            {
                Box::pin(store.end(session)).await?;
            }
            let mut resp = response::text(StatusCode::OK, "application/json", "{}".into());
            cookie::logged_out().apply(&mut resp);
            resp
        }
        _ => return Ok(response::empty(StatusCode::METHOD_NOT_ALLOWED)),
    };
    // zot's getUIHeadersHandler.
    let headers = resp.headers_mut();
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST,OPTIONS"),
    );
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Authorization,content-type,X-ZOT-API-CLIENT"),
    );
    Ok(resp)
}

fn from_ui(headers: &HeaderMap) -> bool {
    headers
        .get(UI_HEADER)
        .is_some_and(|v| v.as_bytes() == UI_VALUE)
}

/// The client's `Authorization`, unless zot's `isAuthorizationHeaderEmpty`
/// holds (absent, empty, or `Basic Og==`, an empty user and password).
fn credentials(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers
        .get(header::AUTHORIZATION)
        .filter(|v| !v.is_empty() && !v.as_bytes().eq_ignore_ascii_case(b"basic og=="))
}

/// The user of Basic credentials (a session remembers who logged in).
fn basic_user(value: &HeaderValue) -> Option<String> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let user = String::from_utf8(decoded)
        .ok()?
        .split_once(':')?
        .0
        .to_owned();
    (!user.is_empty()).then_some(user)
}

/// Is the client's connection TLS? Its own to this gateway, or, from a
/// trusted load balancer (`http.trustedProxies`), as the balancer says; or
/// `http.auth.secureSession` says to act as if.
fn secure(gw: &Gateway, client: &Client, headers: &HeaderMap) -> bool {
    let http = &gw.config.http;
    let forced = http
        .auth
        .as_ref()
        .is_some_and(|a| a.secure_session == Some(true));
    let trusted = http
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&client.peer.ip()));
    let forwarded_tls = trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().unwrap_or(v).trim() == "https");
    client.scheme == "https" || forced || forwarded_tls
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_opens_until_it_expires_and_never_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, r#"{"hashKey":"0123456789abcdef0123456789abcdef"}"#).unwrap();
        let sessions = Sessions::Sealed(Keys::load(&path).unwrap());
        let claims = Claims {
            user: "dev".into(),
            authorization: "Basic ZGV2OnM=".into(),
            expires: 1_000,
        };
        let cookie = sessions.issue(&claims).await.unwrap();
        assert_eq!(sessions.open(&cookie, 999).await.unwrap(), Some(claims));
        assert_eq!(sessions.open(&cookie, 1_000).await.unwrap(), None);
        assert_eq!(sessions.open(&cookie, 5_000).await.unwrap(), None);
        let off = Sessions::Off;
        assert!(matches!(
            off.issue(&Claims {
                user: String::new(),
                authorization: String::new(),
                expires: 0
            })
            .await,
            Err(GatewayError::SessionsOff)
        ));
        assert_eq!(off.open(&cookie, 0).await.unwrap(), None);
    }

    #[test]
    fn the_user_of_basic_credentials() {
        let value = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            basic_user(&value("Basic ZGV2OmRldi1zZWNyZXQ=")).as_deref(),
            Some("dev")
        );
        assert_eq!(basic_user(&value("basic ZGV2Og==")).as_deref(), Some("dev"));
        assert_eq!(basic_user(&value("Bearer abc")), None);
        assert_eq!(basic_user(&value("Basic !!")), None);
        assert_eq!(basic_user(&value("Basic OnNlY3JldA==")), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value("Basic Og=="));
        assert!(credentials(&headers).is_none());
    }
}
