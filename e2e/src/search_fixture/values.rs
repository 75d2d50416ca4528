//! Reading answers: times as instants, and the columns of a list.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// An RFC 3339 time as nanoseconds since the epoch, for comparing instants
/// whatever their offset or fraction digits; `None` if it is not one.
pub fn instant(text: &str) -> Option<i128> {
    let (date, rest) = text.split_once('T')?;
    let mut ymd = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.split(':').map(|p| p.parse::<i64>());
    let (h, min, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let nanos: i64 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (oh, om) = zone[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let seconds = days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60 + s - offset;
    Some(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

/// A `Time` value as an instant; `None` for null.
pub fn time(value: &Value) -> Result<Option<i128>> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => instant(text)
            .map(Some)
            .with_context(|| format!("{text:?} is not RFC 3339")),
        other => bail!("{other} is not a time"),
    }
}

/// `[{Os, Arch}]` as pairs.
pub fn platforms(value: &Value) -> Result<Vec<(String, String)>> {
    value
        .as_array()
        .with_context(|| format!("Platforms is not a list: {value}"))?
        .iter()
        .map(|p| {
            Ok((
                p["Os"].as_str().context("Platform without Os")?.to_owned(),
                p["Arch"]
                    .as_str()
                    .context("Platform without Arch")?
                    .to_owned(),
            ))
        })
        .collect()
}

/// A list of strings.
pub fn strings(value: &Value) -> Result<Vec<String>> {
    value
        .as_array()
        .with_context(|| format!("not a list: {value}"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("not a string: {v}"))
        })
        .collect()
}

/// `key` of each element of `list` (e.g. the `Name` of each repository), as strings.
pub fn column(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|item| item[key].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

/// `RepoName:Tag` of each image of `list`.
pub fn image_names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "{}:{}",
                i["RepoName"].as_str().unwrap_or("<null>"),
                i["Tag"].as_str().unwrap_or("<null>")
            )
        })
        .collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn instants_compare_across_offsets_and_fractions() {
        assert_eq!(instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            instant("2024-05-22T02:00:00+02:00"),
            instant("2024-05-22T00:00:00.000Z")
        );
        assert_eq!(
            instant("2024-05-22T00:00:00.5Z").map(|n| n % 1_000_000_000),
            Some(500_000_000)
        );
        assert!(instant("2099-01-01T00:00:00Z") > instant("2025-02-05T00:00:00Z"));
        assert_eq!(instant("yesterday"), None);
    }
}
