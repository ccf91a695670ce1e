//! Password hashes brought from another system by `sesame account import` (PWD-1): which kinds
//! are accepted, within which costs, and how each is checked with its own algorithm until the
//! customer's next successful login rehashes the password with the current Argon2id settings.
//!
//! Accepted: PHC strings for Argon2 (`$argon2id$`, `$argon2i$`), scrypt (`$scrypt$ln=…,r=…,p=…`)
//! and PBKDF2-SHA256 (`$pbkdf2-sha256$i=…,l=…`), and bcrypt's modular crypt strings (`$2b$`,
//! `$2a$`, `$2y$`). The cost bounds keep one check of an imported hash within what a hashing
//! worker can afford (at most 64 MiB and about a second), so a crafted import can't stall the
//! pool.

use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::PasswordHash;

/// Most memory an imported Argon2 or scrypt hash may need, in KiB.
const MAX_MEMORY_KIB: u64 = 64 * 1024;
const MAX_ARGON2_PASSES: u32 = 10;
const MAX_PARALLELISM: u32 = 4;
const MAX_BCRYPT_COST: u32 = 14;
/// bcrypt refuses to check a hash below this cost: such an account could never log in.
const MIN_BCRYPT_COST: u32 = 4;
const MAX_PBKDF2_ROUNDS: u32 = 2_000_000;

/// The algorithm of an accepted hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Argon2,
    Bcrypt,
    Scrypt,
    Pbkdf2Sha256,
}

/// Whether `stored` is a hash Sesame can check, within the cost bounds; its kind, or why not.
pub fn accept(stored: &str) -> Result<Kind, String> {
    if is_bcrypt(stored) {
        let parts: bcrypt::HashParts = stored.parse().map_err(|e| format!("not a bcrypt hash: {e}"))?;
        if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&parts.get_cost()) {
            return Err(format!(
                "bcrypt cost {} is outside {MIN_BCRYPT_COST}..={MAX_BCRYPT_COST}",
                parts.get_cost()
            ));
        }
        return Ok(Kind::Bcrypt);
    }
    let hash = PasswordHash::new(stored).map_err(|e| format!("not a PHC string: {e}"))?;
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err("the PHC string has no salt or no hash".into());
    }
    match hash.algorithm.as_str() {
        "argon2id" | "argon2i" => {
            let params = argon2::Params::try_from(&hash).map_err(|e| format!("Argon2 parameters: {e}"))?;
            if u64::from(params.m_cost()) > MAX_MEMORY_KIB
                || params.t_cost() > MAX_ARGON2_PASSES
                || params.p_cost() > MAX_PARALLELISM
            {
                return Err(format!(
                    "Argon2 costs above m={MAX_MEMORY_KIB},t={MAX_ARGON2_PASSES},p={MAX_PARALLELISM}"
                ));
            }
            Ok(Kind::Argon2)
        }
        "scrypt" => {
            let params = scrypt::Params::try_from(&hash).map_err(|e| format!("scrypt parameters: {e}"))?;
            // scrypt needs 128 × r × N bytes.
            let kib = 128 * u64::from(params.r()) * params.n() / 1024;
            if kib > MAX_MEMORY_KIB || params.p() > MAX_PARALLELISM {
                return Err(format!(
                    "scrypt needs more than {MAX_MEMORY_KIB} KiB or p > {MAX_PARALLELISM}"
                ));
            }
            Ok(Kind::Scrypt)
        }
        "pbkdf2-sha256" => {
            let params = pbkdf2::Params::try_from(&hash).map_err(|e| format!("PBKDF2 parameters: {e}"))?;
            if params.rounds() > MAX_PBKDF2_ROUNDS {
                return Err(format!("PBKDF2 rounds above {MAX_PBKDF2_ROUNDS}"));
            }
            Ok(Kind::Pbkdf2Sha256)
        }
        other => Err(format!(
            "unsupported algorithm {other} (argon2id, argon2i, bcrypt, scrypt or pbkdf2-sha256)"
        )),
    }
}

/// Whether `password` matches a hash of another kind or cost than the current Argon2id settings
/// (imported, or made before the settings changed); anything unreadable never matches. The cost
/// bounds are checked at import, not here, so a hash made by an earlier configuration still works.
pub fn verify(password: &[u8], stored: &str) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    match hash.algorithm.as_str() {
        "argon2id" | "argon2i" => argon2::Argon2::default().verify_password(password, &hash).is_ok(),
        "scrypt" => scrypt::Scrypt::default().verify_password(password, &hash).is_ok(),
        "pbkdf2-sha256" => pbkdf2::Pbkdf2::default().verify_password(password, &hash).is_ok(),
        _ => false,
    }
}

/// What a hash's checking time depends on: its algorithm and costs, without salt and hash
/// (`$2b$12$`, `$pbkdf2-sha256$i=600000,l=32`), so hashes of one class take one time to check.
pub fn cost_class(stored: &str) -> &str {
    if is_bcrypt(stored) {
        // `$2b$NN$`: the cost is always two digits.
        return stored.get(..7).unwrap_or(stored);
    }
    stored.rsplitn(3, '$').nth(2).unwrap_or(stored)
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Python's passlib and hashlib, not by the crates above (see
    // crates/server/tests/fixtures/import.jsonl for how).
    const PASSWORD: &[u8] = b"correct horse battery staple";

    #[test]
    fn a_cost_class_is_the_algorithm_and_costs_without_salt_or_hash() {
        let bcrypt = "$2b$12$abcdefghijklmnopqrstuu5Y8z2dDpcTrn1SMFo0t1sMhnUd0Lni6";
        assert_eq!(cost_class(bcrypt), "$2b$12$");
        let pbkdf2 = "$pbkdf2-sha256$i=600000,l=32$c2FsdA$aGFzaA";
        assert_eq!(cost_class(pbkdf2), "$pbkdf2-sha256$i=600000,l=32");
        let argon = "$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA";
        assert_eq!(cost_class(argon), "$argon2i$v=19$m=65536,t=3,p=4");
        assert_eq!(cost_class("garbage"), "garbage");
    }

    #[test]
    fn costs_beyond_the_bounds_are_refused() {
        let huge_argon =
            "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(accept(huge_argon).unwrap_err().contains("Argon2 costs"));
        let bcrypt_31 = "$2b$31$abcdefghijklmnopqrstuu5Y8z2dDpcTrn1SMFo0t1sMhnUd0Lni6";
        assert!(accept(bcrypt_31).is_err());
        let bcrypt_3 = "$2b$03$abcdefghijklmnopqrstuu5Y8z2dDpcTrn1SMFo0t1sMhnUd0Lni6";
        assert!(accept(bcrypt_3).unwrap_err().contains("outside"));
        assert!(accept("$md5$x$y").is_err());
        assert!(accept("plain text").is_err());
        assert!(!verify(PASSWORD, "plain text"));
    }
}
