//! Authentication factors. Each factor lives in its own module and is used by flows without the
//! flow knowing how a secret is checked. The walking skeleton has the password factor; TOTP,
//! security keys, SMS, backup codes and email codes plug in beside it.

pub mod password;
