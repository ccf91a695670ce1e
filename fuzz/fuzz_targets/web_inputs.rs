//! The edge's untrusted inputs: `return_to`, `Accept-Language`, `Origin` with `Sec-Fetch-Site`,
//! `X-Forwarded-For`, page query strings, JSON login bodies and WebAuthn answers (MFA-3).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_web::fuzzing;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(to) = fuzzing::return_to(&text) {
        assert!(to.starts_with('/') || to.starts_with("https://login.example.com"), "{to}");
    }
    let _ = fuzzing::accept_language(&text);
    let (origin, site) = data.split_at(data.len() / 2);
    let _ = fuzzing::same_site(origin, site);
    let _ = fuzzing::forwarded_for(data);
    let _ = fuzzing::query_param(&text);
    let _ = fuzzing::login_json(data);
    let _ = serde_json::from_slice::<webauthn_rs::prelude::PublicKeyCredential>(data);
    let _ = serde_json::from_slice::<webauthn_rs::prelude::RegisterPublicKeyCredential>(data);
});
