//! The cookies of zot's UI sessions: read from `Cookie` headers as Go's `Request.Cookie` reads them, written as Go's `http.Cookie` writes them.
//!
//! The node issues them for its own sessions; the gateway issues the same
//! for the sessions it terminates, so zui cannot tell the two apart.

use http::{header, HeaderMap, HeaderValue};
use time::OffsetDateTime;

/// zot's `cookiesMaxAge`: a session lasts two hours from its login, never longer.
pub const MAX_AGE: i64 = 7200;

/// The HttpOnly cookie holding the session token.
pub const SESSION: &str = "session";
/// The cookie zui reads to show who is logged in, hence not HttpOnly.
pub const USER: &str = "user";

/// `Set-Cookie` values an answer must carry, whatever its status: a login's
/// cookies on success, the expiry of a refused session on a 401 as well.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SetCookies(Vec<String>);

impl SetCookies {
    pub fn push(&mut self, value: String) {
        self.0.push(value);
    }

    pub fn append(&mut self, mut other: SetCookies) {
        self.0.append(&mut other.0);
    }

    /// Appends one `Set-Cookie` header per cookie. The node builds every
    /// value from sanitized parts, so none is dropped in practice.
    pub fn apply<B>(self, resp: &mut http::Response<B>) {
        for value in self.0 {
            if let Ok(value) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(header::SET_COOKIE, value);
            }
        }
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

/// The two cookies of a UI login (zot's `saveUserLoggedSession`), in zot's
/// order: gorilla's session cookie, then the `user` cookie. Secure when the
/// node serves TLS or `http.auth.secureSession` says so.
pub fn login(token: &str, user: &str, expires: OffsetDateTime, secure: bool) -> SetCookies {
    let secure = if secure { "; Secure" } else { "" };
    let tail = format!("Path=/; Expires={}; Max-Age={MAX_AGE}", http_date(expires));
    let mut cookies = SetCookies::default();
    cookies.push(format!("{SESSION}={token}; {tail}; HttpOnly{secure}"));
    cookies.push(format!("{USER}={}; {tail}{secure}", go_value(user)));
    cookies
}

/// What zot's `sessionAuthn` sets when the session cookie names no live
/// session, so the browser forgets it: `Expires` at the epoch, no `Max-Age`.
pub fn refused() -> String {
    format!("{SESSION}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly")
}

/// What a logout sets: both cookies gone (gorilla's `MaxAge: -1`, which Go
/// writes as one second past the epoch and `Max-Age=0`).
pub fn logged_out() -> SetCookies {
    let mut cookies = SetCookies::default();
    for name in [SESSION, USER] {
        cookies.push(format!(
            "{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"
        ));
    }
    cookies
}

/// Go's `Request.Cookie(name)`: the first cookie of that name, across every
/// `Cookie` header, whose value is valid cookie text (one pair of surrounding
/// quotes removed).
pub fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|part| {
            let (key, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
            (key.trim() == name).then_some(value)
        })
        .find_map(parse_value)
}

/// Go's `parseCookieValue` with quotes allowed.
fn parse_value(raw: &str) -> Option<&str> {
    let value = raw
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(raw);
    value.bytes().all(valid_value_byte).then_some(value)
}

/// Go's `validCookieValueByte`.
fn valid_value_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b';' | b'\\')
}

/// Go's `sanitizeCookieValue`: bytes a cookie value cannot hold are dropped,
/// and a value with a space or a comma is quoted. A user name is whatever the
/// htpasswd file holds, so the `user` cookie needs it.
fn go_value(value: &str) -> String {
    let kept: String = value
        .bytes()
        .filter(|&b| valid_value_byte(b))
        .map(char::from)
        .collect();
    if kept.contains([' ', ',']) {
        format!("\"{kept}\"")
    } else {
        kept
    }
}

/// Go's `http.TimeFormat` (RFC 1123 in GMT), which `Expires` uses.
fn http_date(t: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = t.to_offset(time::UtcOffset::UTC);
    let day = DAYS[usize::from(t.weekday().number_days_from_monday())];
    let month = MONTHS[usize::from(u8::from(t.month()) - 1)];
    format!(
        "{day}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn login_cookies_are_zots_byte_for_byte() {
        let expires = datetime!(2026-12-07 13:30:00 +02:00);
        let token = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(
            login(token, "alice", expires, false).values(),
            [
                format!("session={token}; Path=/; Expires=Mon, 07 Dec 2026 11:30:00 GMT; Max-Age=7200; HttpOnly"),
                "user=alice; Path=/; Expires=Mon, 07 Dec 2026 11:30:00 GMT; Max-Age=7200".to_owned(),
            ]
        );
        assert_eq!(
            login(token, "alice", expires, true).values(),
            [
                format!("session={token}; Path=/; Expires=Mon, 07 Dec 2026 11:30:00 GMT; Max-Age=7200; HttpOnly; Secure"),
                "user=alice; Path=/; Expires=Mon, 07 Dec 2026 11:30:00 GMT; Max-Age=7200; Secure".to_owned(),
            ]
        );
    }

    #[test]
    fn expiring_cookies_are_zots() {
        assert_eq!(
            refused(),
            "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        );
        assert_eq!(
            logged_out().values(),
            [
                "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
                "user=; Path=/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0",
            ]
        );
    }

    #[test]
    fn dates_are_padded_and_in_gmt() {
        assert_eq!(
            http_date(datetime!(2027-01-02 03:04:05 UTC)),
            "Sat, 02 Jan 2027 03:04:05 GMT"
        );
        assert_eq!(
            http_date(datetime!(2024-02-29 23:59:59 -01:00)),
            "Fri, 01 Mar 2024 00:59:59 GMT"
        );
    }

    #[test]
    fn user_names_are_sanitized_as_go_does() {
        assert_eq!(go_value("alice"), "alice");
        assert_eq!(go_value("a b"), "\"a b\"");
        assert_eq!(go_value("a,b"), "\"a,b\"");
        assert_eq!(go_value("a;b\"c\\dé"), "abcd");
        let cookies = login(
            "t",
            "x;\r\nSet-Cookie: y",
            datetime!(2026-01-01 0:00 UTC),
            false,
        );
        let mut resp = http::Response::new(());
        cookies.apply(&mut resp);
        let set: Vec<_> = resp.headers().get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set[1]
            .to_str()
            .unwrap()
            .starts_with("user=\"xSet-Cookie: y\"; Path=/"));
    }

    #[test]
    fn the_first_valid_cookie_of_the_name_is_found() {
        let mut headers = HeaderMap::new();
        let mut add = |value: &'static str| {
            headers.append(header::COOKIE, HeaderValue::from_static(value));
        };
        add("theme=dark; sessionx=1");
        add("session=bad\\value; user=alice");
        add(" session=\"tok\" ; session=later");
        assert_eq!(find(&headers, SESSION), Some("tok"));
        assert_eq!(find(&headers, USER), Some("alice"));
        assert_eq!(find(&headers, "theme"), Some("dark"));
        assert_eq!(find(&headers, "missing"), None);
        assert_eq!(find(&HeaderMap::new(), SESSION), None);
    }
}
