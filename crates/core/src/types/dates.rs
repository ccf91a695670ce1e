//! Dates and times as a customer reads them, in their language (#15 item 8): `26 November 2026,
//! 09:05 UTC` or `26 novembre 2026 à 09:05 UTC`; in the time zone their browser named when the
//! time-zone database knows it (`26 novembre 2026 à 10:05 (Europe/Paris)`), otherwise UTC and
//! said so. The words are joined by no-break spaces, so a date never wraps across lines, even on a
//! phone (#15 item 13).

use time::OffsetDateTime;

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// A time zone by its IANA name (`Europe/Paris`), if the database knows it.
pub fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    (!name.is_empty() && name.len() <= 64)
        .then(|| jiff::tz::TimeZone::get(name).ok())
        .flatten()
}

/// Year, month (1-12), day, hour and minute.
type Parts = (i32, usize, u8, u8, u8);

/// The parts of `at` in `zone`, or in UTC.
fn parts(at: OffsetDateTime, zone: Option<&jiff::tz::TimeZone>) -> Parts {
    let local = zone.and_then(|zone| {
        let stamp = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).ok()?;
        Some(zone.to_datetime(stamp))
    });
    match local {
        Some(z) => (
            i32::from(z.year()),
            usize::try_from(z.month()).unwrap_or(1),
            u8::try_from(z.day()).unwrap_or(1),
            u8::try_from(z.hour()).unwrap_or(0),
            u8::try_from(z.minute()).unwrap_or(0),
        ),
        None => {
            let at = at.to_offset(time::UtcOffset::UTC);
            (
                at.year(),
                usize::from(u8::from(at.month())),
                at.day(),
                at.hour(),
                at.minute(),
            )
        }
    }
}

fn day_of(parts: Parts, lang: &str) -> String {
    let months = if lang == "fr" { &MONTHS_FR } else { &MONTHS_EN };
    let month = months[parts.1.clamp(1, 12) - 1];
    format!("{}\u{a0}{month}\u{a0}{}", parts.2, parts.0)
}

/// The day: `26 November 2026`, `26 novembre 2026` (in UTC).
pub fn day(at: OffsetDateTime, lang: &str) -> String {
    day_in(at, lang, None)
}

/// The day in a time zone, or in UTC without one.
pub fn day_in(at: OffsetDateTime, lang: &str, zone: Option<&jiff::tz::TimeZone>) -> String {
    day_of(parts(at, zone), lang)
}

/// The day and the time: `26 November 2026, 09:05 UTC`, `26 novembre 2026 à 09:05 UTC`.
pub fn when(at: OffsetDateTime, lang: &str) -> String {
    when_in(at, lang, None)
}

/// The day and the time in a time zone, named after it (`26 novembre 2026 à 10:05
/// (Europe/Paris)`); in UTC, said so, without one.
pub fn when_in(at: OffsetDateTime, lang: &str, zone: Option<&jiff::tz::TimeZone>) -> String {
    let parts = parts(at, zone);
    let joint = if lang == "fr" { "\u{a0}à" } else { "," };
    let name = match zone.and_then(jiff::tz::TimeZone::iana_name) {
        Some(name) => format!("({name})"),
        None => "UTC".to_owned(),
    };
    format!(
        "{}{joint}\u{a0}{:02}:{:02}\u{a0}{name}",
        day_of(parts, lang),
        parts.3,
        parts.4
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn in_each_language_in_utc_or_in_the_browsers_zone() {
        let at = datetime!(2026-11-25 18:05:59 UTC);
        let spaced = |s: String| s.replace('\u{a0}', " ");
        assert_eq!(spaced(when(at, "en")), "25 November 2026, 18:05 UTC");
        assert_eq!(spaced(when(at, "fr")), "25 novembre 2026 à 18:05 UTC");
        assert_eq!(spaced(day(datetime!(2026-08-01 23:30 -02:00), "fr")), "2 août 2026");
        assert_eq!(spaced(when(at, "pl")), "25 November 2026, 18:05 UTC");
        assert!(!when(at, "fr").contains(' '), "never wraps");
        // In the browser's time zone, named (winter time in Paris: UTC+1).
        let paris = time_zone("Europe/Paris");
        assert_eq!(
            spaced(when_in(at, "fr", paris.as_ref())),
            "25 novembre 2026 à 19:05 (Europe/Paris)"
        );
        let tokyo = time_zone("Asia/Tokyo");
        assert_eq!(spaced(day_in(at, "en", tokyo.as_ref())), "26 November 2026");
        assert!(time_zone("Mars/Olympus").is_none());
        assert!(time_zone("../../etc/passwd").is_none());
        assert!(time_zone("").is_none());
    }
}
