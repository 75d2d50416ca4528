//! Times as zot reads and writes them: RFC 3339 in, Go's `RFC3339Nano` out, and Go's zero time standing for "unknown".

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`), which zot uses for "unknown".
fn is_go_zero(t: OffsetDateTime) -> bool {
    t.year() == 1 && t.ordinal() == 1 && t.to_offset(UtcOffset::UTC).time() == time::Time::MIDNIGHT
}

/// Parses an RFC 3339 time as Go's `time.Parse(time.RFC3339, …)` does;
/// unparsable text and Go's zero time are `None`.
pub(crate) fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .filter(|t| !is_go_zero(*t))
}

/// Go's `t.Format(time.RFC3339Nano)`: trailing zeros of the fraction
/// dropped, `Z` for a zero offset, the offset as written otherwise.
pub(crate) fn format(t: OffsetDateTime) -> String {
    use std::fmt::Write;
    // Digits pushed by hand into one buffer: every summary of a search page
    // formats several times, so this runs thousands of times per request,
    // and `write!` was most of it.
    let mut out = String::with_capacity(35);
    match u32::try_from(t.year()) {
        Ok(year) if year <= 9999 => push_digits(&mut out, year, 4),
        _ => {
            let _ = write!(out, "{:04}", t.year());
        }
    }
    out.push('-');
    push_digits(&mut out, u32::from(u8::from(t.month())), 2);
    out.push('-');
    push_digits(&mut out, u32::from(t.day()), 2);
    out.push('T');
    push_digits(&mut out, u32::from(t.hour()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.minute()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(t.second()), 2);
    let nanos = t.nanosecond();
    if nanos > 0 {
        let mut digits = 9;
        let mut fraction = nanos;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        out.push('.');
        push_digits(&mut out, fraction, digits);
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        out.push(if offset.is_negative() { '-' } else { '+' });
        push_digits(&mut out, u32::from(h.unsigned_abs()), 2);
        out.push(':');
        push_digits(&mut out, u32::from(m.unsigned_abs()), 2);
    }
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// A `Time` field's JSON: gqlgen writes Go's zero time as `null`.
pub(crate) fn json(t: Option<OffsetDateTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| format(t).into())
}

/// Nanoseconds since the Unix epoch, as the database stores instants.
pub(crate) fn to_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn from_nanos(nanos: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()
}

/// Now, in UTC as Go's `timestamppb.Now().AsTime()` gives it.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_go_rfc3339_nano() {
        let t = parse("2024-03-01T10:20:30.120000000+02:00").unwrap();
        assert_eq!(format(t), "2024-03-01T10:20:30.12+02:00");
        let utc = parse("2024-03-01T10:20:30+00:00").unwrap();
        assert_eq!(format(utc), "2024-03-01T10:20:30Z");
        assert_eq!(format(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        for (text, go) in [
            (
                "2024-03-01T10:20:30.000000001Z",
                "2024-03-01T10:20:30.000000001Z",
            ),
            ("2024-03-01T10:20:30.100000000Z", "2024-03-01T10:20:30.1Z"),
            (
                "2024-03-01T10:20:30.123456789-05:30",
                "2024-03-01T10:20:30.123456789-05:30",
            ),
            ("2024-03-01T10:20:30.000100Z", "2024-03-01T10:20:30.0001Z"),
            ("0009-12-31T23:59:59.5-00:45", "0009-12-31T23:59:59.5-00:45"),
            ("9999-01-02T03:04:05+14:00", "9999-01-02T03:04:05+14:00"),
        ] {
            assert_eq!(format(parse(text).unwrap()), go);
        }
    }

    #[test]
    fn go_zero_time_and_garbage_are_unknown() {
        assert_eq!(parse("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse("yesterday"), None);
        assert_eq!(json(None), serde_json::Value::Null);
        let t = parse("2024-01-01T00:00:00.5Z").unwrap();
        assert_eq!(from_nanos(to_nanos(t)), Some(t));
    }
}
