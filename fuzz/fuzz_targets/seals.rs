//! SEC-1: the key file's text, sealed values and HMAC inputs from storage or a request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_core::keys::ServerKey;

fuzz_target!(|input: &str| {
    let _ = ServerKey::parse(input);
    let key = ServerKey::parse("k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        .expect("a fixed, valid key line");
    // Nothing made outside the server opens.
    assert!(key.open("purpose", input).is_err() || input.starts_with("k1:"));
    assert_eq!(key.hmacs("purpose", input.as_bytes()).len(), 1);
});
