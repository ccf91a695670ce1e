//! SEC-1: the server secret key. One key file outside the database, the same on every node,
//! holding one key per line as `KEY_ID:HEX` (the first line is the current key; later lines are
//! older keys kept readable during a rotation). It keys the HMACs of one-time secrets and CSRF
//! tokens; reading and creating the file is the server's job, parsing it is here.

use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key file holds no key")]
    Empty,
    #[error("line {0} of the key file is not KEY_ID:64_HEX_DIGITS")]
    Malformed(usize),
}

/// The current server key and its id.
#[derive(Clone)]
pub struct ServerKey {
    id: String,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ServerKey {
    /// A new key line, `KEY_ID:HEX`, from 32 random bytes and an id.
    pub fn new_line(id: &str, secret: &[u8; 32]) -> String {
        format!("{id}:{}\n", hex::encode(secret))
    }

    /// Reads the key file's text; the first key is the current one.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (index, line) = keys.next().ok_or(KeyError::Empty)?;
        let malformed = KeyError::Malformed(index + 1);
        let (id, hex_secret) = line.trim().split_once(':').ok_or(malformed.clone())?;
        let secret = Zeroizing::new(hex::decode(hex_secret).map_err(|_| malformed.clone())?);
        let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok || secret.len() != 32 {
            return Err(malformed);
        }
        Ok(Self {
            id: id.to_owned(),
            secret,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA-256 of `data`, domain-separated by `purpose` so a value hashed for one use can
    /// never be replayed as another.
    pub fn hmac(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable_hmac_key());
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

/// HMAC accepts keys of any length, so this cannot happen; it is spelled out instead of a panic.
fn unreachable_hmac_key() -> HmacSha256 {
    tracing::error!("HMAC refused a key");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_first_key_and_ignores_blank_lines() {
        let text = format!(
            "\n{}{}",
            ServerKey::new_line("k2", &[2; 32]),
            ServerKey::new_line("k1", &[1; 32])
        );
        let key = ServerKey::parse(&text).unwrap();
        assert_eq!(key.id(), "k2");
    }

    #[test]
    fn refuses_malformed_files() {
        assert_eq!(ServerKey::parse("").err(), Some(KeyError::Empty));
        assert_eq!(
            ServerKey::parse("nocolon").err(),
            Some(KeyError::Malformed(1))
        );
        assert_eq!(
            ServerKey::parse("k1:abcd").err(),
            Some(KeyError::Malformed(1))
        );
        assert_eq!(
            ServerKey::parse(&format!("bad id:{}", "00".repeat(32))).err(),
            Some(KeyError::Malformed(1))
        );
    }

    #[test]
    fn hmac_is_keyed_and_separated_by_purpose() {
        let a = ServerKey::parse(&ServerKey::new_line("a", &[1; 32])).unwrap();
        let b = ServerKey::parse(&ServerKey::new_line("b", &[2; 32])).unwrap();
        assert_eq!(a.hmac("code", b"123456"), a.hmac("code", b"123456"));
        assert_ne!(a.hmac("code", b"123456"), b.hmac("code", b"123456"));
        assert_ne!(a.hmac("code", b"123456"), a.hmac("reset", b"123456"));
        assert_eq!(a.hmac("code", b"x").len(), 32);
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = ServerKey::parse(&ServerKey::new_line("a", &[0xab; 32])).unwrap();
        assert!(!format!("{key:?}").contains("abab"));
    }
}
