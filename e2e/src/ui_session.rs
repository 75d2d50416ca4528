//! zot's web UI as a client: its login, its cookie-carried requests and its logout, over raw HTTP so every cookie attribute can be checked.
//!
//! zui logs in with `GET /v2/`, Basic credentials and `X-ZOT-API-CLIENT:
//! zot-ui`; then it sends only the header and the cookies its browser keeps.
//! [`UiClient`] keeps them the same way (name → value, a cookie set to
//! expire removes it) and can move to another base URL with its cookies,
//! as a browser does behind a load balancer that picks another gateway.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use reqwest::blocking::{Client, Response};
use reqwest::Method;
use serde_json::Value;

/// zui's header.
pub const UI_HEADER: (&str, &str) = ("X-ZOT-API-CLIENT", "zot-ui");

/// What zot's UI sends and keeps.
#[derive(Debug, Clone)]
pub struct UiClient {
    base: String,
    client: Client,
    cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` value received, newest last.
    pub set_cookies: Vec<String>,
}

/// One answer, read whole.
#[derive(Debug, Clone)]
pub struct UiAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl UiAnswer {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

impl UiClient {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: crate::http::client(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    /// The same browser, now reaching `base` (another gateway).
    pub fn at(&self, base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            ..self.clone()
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Replaces a cookie's value, as an attacker edits it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    /// zui's login: `GET /v2/` with Basic credentials and the UI header.
    pub fn login(&mut self, user: &str, password: &str) -> Result<UiAnswer> {
        let builder = self
            .client
            .get(format!("{}/v2/", self.base))
            .basic_auth(user, Some(password));
        self.send(builder)
    }

    /// A request as zui sends it after login: the header and the cookies, no credentials.
    pub fn request(&mut self, method: Method, path: &str) -> Result<UiAnswer> {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        self.send(builder)
    }

    pub fn get(&mut self, path: &str) -> Result<UiAnswer> {
        self.request(Method::GET, path)
    }

    /// A GraphQL query as zui sends it (`GET ?query=`); the answer's JSON.
    pub fn search(&mut self, query: &str) -> Result<UiAnswer> {
        let path = format!(
            "/v2/_zot/ext/search?query={}",
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
        );
        self.get(&path)
    }

    /// zui's star button.
    pub fn toggle_star(&mut self, repo: &str) -> Result<UiAnswer> {
        self.request(
            Method::PUT,
            &format!("/v2/_zot/ext/userprefs?action=toggleStar&repo={repo}"),
        )
    }

    /// zui's bookmark button.
    pub fn toggle_bookmark(&mut self, repo: &str) -> Result<UiAnswer> {
        self.request(
            Method::PUT,
            &format!("/v2/_zot/ext/userprefs?action=toggleBookmark&repo={repo}"),
        )
    }

    /// zui's logout.
    pub fn logout(&mut self) -> Result<UiAnswer> {
        self.request(Method::POST, "/zot/auth/logout")
    }

    fn send(&mut self, builder: reqwest::blocking::RequestBuilder) -> Result<UiAnswer> {
        let mut builder = builder.header(UI_HEADER.0, UI_HEADER.1);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            builder = builder.header("Cookie", jar.join("; "));
        }
        let resp: Response = builder.send()?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for value in headers.get_all("set-cookie") {
            let text = value.to_str()?.to_owned();
            self.keep(&text);
            self.set_cookies.push(text);
        }
        let body = resp.text()?;
        Ok(UiAnswer {
            status,
            headers,
            body,
        })
    }

    /// A browser's jar, for what these tests need: a cookie set with a past
    /// `Expires` or `Max-Age=0` is removed, any other replaces the old value.
    fn keep(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let expired = parts.any(|attr| {
            attr.eq_ignore_ascii_case("Max-Age=0")
                || attr.ends_with("1970 00:00:00 GMT")
                || attr.ends_with("1970 00:00:01 GMT")
        });
        if expired {
            self.cookies.remove(name);
        } else {
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }
}

/// The `Set-Cookie` value for `name` among `answer`'s.
pub fn set_cookie<'a>(answer: &'a UiAnswer, name: &str) -> Option<&'a str> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The attributes of a `Set-Cookie` value after its `name=value`, as written.
pub fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

/// Asserts a login answer is zot's: 200, a `session` cookie (HttpOnly) and
/// a `user` cookie naming `user` (readable by the page), both for two hours.
pub fn ensure_login(answer: &UiAnswer, user: &str, secure: bool) -> Result<()> {
    ensure!(
        answer.status == 200,
        "login: {} {}",
        answer.status,
        answer.body
    );
    let session = set_cookie(answer, "session").context("login set no session cookie")?;
    let user_cookie = set_cookie(answer, "user").context("login set no user cookie")?;
    ensure!(
        user_cookie.starts_with(&format!("user={user};")),
        "user cookie: {user_cookie}"
    );
    for (cookie, http_only) in [(session, true), (user_cookie, false)] {
        let attrs = attributes(cookie);
        let mut want = vec!["Path=/".to_owned()];
        let expires = attrs
            .iter()
            .find(|a| a.starts_with("Expires="))
            .with_context(|| format!("no Expires: {cookie}"))?;
        want.push(expires.clone());
        want.push("Max-Age=7200".into());
        if http_only {
            want.push("HttpOnly".into());
        }
        if secure {
            want.push("Secure".into());
        }
        ensure!(attrs == want, "{cookie}: want attributes {want:?}");
        let at = httpdate::parse_http_date(expires.trim_start_matches("Expires="))?;
        let left = at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        ensure!(
            left > Duration::from_secs(7100) && left <= Duration::from_secs(7201),
            "{cookie}: expires in {left:?}, not two hours"
        );
    }
    Ok(())
}
