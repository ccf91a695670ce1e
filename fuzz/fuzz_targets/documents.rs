//! RECOVER-5: identity documents are recognised by their first bytes, whatever they hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(kind) = sesame_core::service::document_type(data) {
        assert!(["image/jpeg", "image/png", "application/pdf"].contains(&kind));
    }
});
