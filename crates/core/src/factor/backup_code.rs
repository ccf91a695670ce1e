//! MFA-5 backup codes: 10 (by default) single-use codes of 10 Crockford base32 symbols (50 bits), shown as
//! `xxxxx-xxxxx`, accepted regardless of case, hyphens and spaces (and Crockford's look-alikes:
//! O for 0, I and L for 1). Stored only as HMACs under the server key, bound to the account.

use super::{FactorContext, FactorError, FactorOutcome, Method, Proof, Scope, SecondFactor};
use crate::random::Random;
use async_trait::async_trait;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Purpose of backup codes in the one-time secret store.
pub const PURPOSE: &str = "backup-code";

/// A new set of `count` codes, formatted for display.
pub fn generate(rng: &dyn Random, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let symbols: String = (0..10)
                .map(|_| char::from(ALPHABET[usize::try_from(rng.below(32)).unwrap_or(0)]))
                .collect();
            format!("{}-{}", &symbols[..5], &symbols[5..])
        })
        .collect()
}

/// The canonical form of a typed code, or `None` when it can't be one.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(10);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == 10).then_some(out)
}

/// What the store keeps for a code of an account (under the current key).
pub fn hash(key: &crate::keys::ServerKey, account: crate::types::AccountId, normalized: &str) -> Vec<u8> {
    key.hmac(PURPOSE, format!("{account}:{normalized}").as_bytes())
}

/// What the store may hold for a code: its HMAC under every key, for codes made before a rotation.
pub fn hashes(key: &crate::keys::ServerKey, account: crate::types::AccountId, normalized: &str) -> Vec<Vec<u8>> {
    key.hmacs(PURPOSE, format!("{account}:{normalized}").as_bytes())
}

/// Backup codes as a second factor: never the only method (MFA-5).
pub struct BackupCodeFactor;

#[async_trait]
impl SecondFactor for BackupCodeFactor {
    fn method(&self) -> Method {
        Method::BackupCode
    }

    async fn available(&self, ctx: &FactorContext<'_>) -> Result<bool, FactorError> {
        Ok(ctx.ports.backup_codes_left(ctx.account.id, ctx.now).await? > 0)
    }

    async fn verify(
        &self,
        ctx: &FactorContext<'_>,
        _scope: Scope<'_>,
        proof: &Proof,
    ) -> Result<FactorOutcome, FactorError> {
        let Some(code) = super::code(proof).and_then(normalize) else {
            return Ok(FactorOutcome::Rejected);
        };
        let hashes = hashes(ctx.key, ctx.account.id, &code);
        Ok(match super::consume_any(ctx.ports, PURPOSE, &hashes, ctx.now).await? {
            Some(_) => FactorOutcome::Accepted(None),
            None => FactorOutcome::Rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn ten_codes_of_fifty_bits_shown_in_two_groups() {
        let codes = generate(&OsRandom, 10);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert_eq!(normalize(code).as_deref(), Some(code.replace('-', "").as_str()));
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn typing_is_forgiving() {
        assert_eq!(normalize(" ABCDE-12345 ").as_deref(), Some("abcde12345"));
        assert_eq!(normalize("abcde 12345").as_deref(), Some("abcde12345"));
        assert_eq!(normalize("OIL0o-11111").as_deref(), Some("0110011111"));
        assert_eq!(normalize("abcde-1234"), None);
        assert_eq!(normalize("abcde-12345-6"), None);
        assert_eq!(normalize("uuuuu-uuuuu"), None, "u is not Crockford");
        assert_eq!(normalize("ábcde-12345"), None);
    }
}
