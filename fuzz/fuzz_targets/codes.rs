//! MFA-2, MFA-5: backup codes and TOTP codes as typed, and a device description.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_core::factor::{backup_code, totp};

const SEED: [u8; 20] = *b"12345678901234567890";

fuzz_target!(|input: &str| {
    if let Some(normalized) = backup_code::normalize(input) {
        assert_eq!(backup_code::normalize(&normalized).as_deref(), Some(normalized.as_str()));
    }
    let now = time::OffsetDateTime::from_unix_timestamp(1_764_064_800).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    for drift in 0..=2 {
        let _ = totp::matching_step(&SEED, input, now, drift);
    }
    let _ = sesame_core::service::device_description(Some(input));
    let _ = sesame_core::service::mask(input);
    if let Ok(rules) = serde_json::from_str::<sesame_core::ip_rules::IpRules>(input)
        && let Ok(rules) = rules.validated()
    {
        let _ = rules.decide(Some("192.0.2.1"));
        let _ = rules.decide(Some("2001:db8::1"));
    }
});
