//! The session cookies at the gateway: zot's own (`flotilla_protocol::session_cookie`), issued here, and kept from members.

use http::header::{self, HeaderMap, HeaderValue};

pub(crate) use flotilla_protocol::session_cookie::{
    find, logged_out, login, refused, SetCookies, SESSION, USER,
};

/// Drops the session cookies from the request: they are the gateway's, and
/// mean nothing to a member (whose own session store would try them).
/// Other cookies pass unchanged.
pub(crate) fn strip(headers: &mut HeaderMap) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(n, _)| n);
            !pair.is_empty() && name != SESSION && name != USER
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let (false, Ok(value)) = (kept.is_empty(), HeaderValue::from_str(&kept.join("; "))) {
        headers.insert(header::COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_read_then_kept_from_members() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; session=s1; user=dev"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("lang=en"));
        assert_eq!(find(&headers, SESSION), Some("s1"));
        strip(&mut headers);
        assert_eq!(headers.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(headers[header::COOKIE], "theme=dark; lang=en");
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, HeaderValue::from_static("session=s1"));
        strip(&mut only);
        assert!(!only.contains_key(header::COOKIE));
    }
}
