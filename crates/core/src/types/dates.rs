//! Dates and times as a customer reads them, in their language (#15 item 8): `26 November 2026,
//! 09:05 UTC` or `26 novembre 2026 à 09:05 UTC`. Times are UTC and say so. The words are joined
//! by no-break spaces, so a date never wraps across lines, even on a phone (#15 item 13).

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

/// The day: `26 November 2026`, `26 novembre 2026`.
pub fn day(at: OffsetDateTime, lang: &str) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let months = if lang == "fr" { &MONTHS_FR } else { &MONTHS_EN };
    let month = months[usize::from(u8::from(at.month())) - 1];
    format!("{}\u{a0}{month}\u{a0}{}", at.day(), at.year())
}

/// The day and the time: `26 November 2026, 09:05 UTC`, `26 novembre 2026 à 09:05 UTC`.
pub fn when(at: OffsetDateTime, lang: &str) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let joint = if lang == "fr" { "\u{a0}à" } else { "," };
    format!(
        "{}{joint}\u{a0}{:02}:{:02}\u{a0}UTC",
        day(at, lang),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn in_each_language_and_always_in_utc() {
        let at = datetime!(2026-11-25 18:05:59 UTC);
        let spaced = |s: String| s.replace('\u{a0}', " ");
        assert_eq!(spaced(when(at, "en")), "25 November 2026, 18:05 UTC");
        assert_eq!(spaced(when(at, "fr")), "25 novembre 2026 à 18:05 UTC");
        assert_eq!(spaced(day(datetime!(2026-08-01 23:30 -02:00), "fr")), "2 août 2026");
        assert_eq!(spaced(when(at, "pl")), "25 November 2026, 18:05 UTC");
        assert!(!when(at, "fr").contains(' '), "never wraps");
    }
}
