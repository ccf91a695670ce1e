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
    #[error("a sealed value could not be opened (wrong key, purpose or data)")]
    Sealed,
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
        let mut keys = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
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

    /// Encrypts a value that must be read back later (AEAD: XChaCha20-Poly1305 under a key
    /// derived from the server key for `purpose`, random nonce, the key id in front). Used for
    /// what a flow must keep between steps, like the password typed at sign-up step 2.
    pub fn seal(&self, purpose: &str, plaintext: &[u8], rng: &dyn crate::random::Random) -> Result<String, KeyError> {
        use chacha20poly1305::aead::{Aead, KeyInit as _};
        let key = self.hmac("aead-key", purpose.as_bytes());
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).map_err(|_| KeyError::Sealed)?;
        let mut nonce = [0u8; 24];
        rng.fill(&mut nonce);
        let sealed = cipher
            .encrypt((&nonce).into(), plaintext)
            .map_err(|_| KeyError::Sealed)?;
        Ok(format!("{}:{}:{}", self.id, hex::encode(nonce), hex::encode(sealed)))
    }

    /// Decrypts what [`ServerKey::seal`] made for the same purpose.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use chacha20poly1305::aead::{Aead, KeyInit as _};
        let mut parts = sealed.split(':');
        let (Some(id), Some(nonce), Some(body), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Sealed);
        };
        if id != self.id {
            return Err(KeyError::Sealed);
        }
        let nonce: [u8; 24] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(KeyError::Sealed)?;
        let body = hex::decode(body).map_err(|_| KeyError::Sealed)?;
        let key = self.hmac("aead-key", purpose.as_bytes());
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).map_err(|_| KeyError::Sealed)?;
        cipher
            .decrypt((&nonce).into(), body.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Sealed)
    }

    /// HMAC-SHA-256 of `data`, domain-separated by `purpose` so a value hashed for one use can
    /// never be replayed as another.
    pub fn hmac(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable_hmac_key());
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
        assert_eq!(ServerKey::parse("nocolon").err(), Some(KeyError::Malformed(1)));
        assert_eq!(ServerKey::parse("k1:abcd").err(), Some(KeyError::Malformed(1)));
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
    fn sealed_values_open_only_for_their_purpose_and_key() {
        let rng = crate::random::OsRandom;
        let a = ServerKey::parse(&ServerKey::new_line("a", &[1; 32])).unwrap();
        let b = ServerKey::parse(&ServerKey::new_line("a", &[2; 32])).unwrap();
        let sealed = a.seal("signup-password", b"hunter2 hunter2", &rng).unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            a.open("signup-password", &sealed).unwrap().as_slice(),
            b"hunter2 hunter2"
        );
        assert_eq!(a.open("other", &sealed).err(), Some(KeyError::Sealed));
        assert_eq!(b.open("signup-password", &sealed).err(), Some(KeyError::Sealed));
        assert_eq!(a.open("signup-password", "garbage").err(), Some(KeyError::Sealed));
        assert_ne!(sealed, a.seal("signup-password", b"hunter2 hunter2", &rng).unwrap());
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = ServerKey::parse(&ServerKey::new_line("a", &[0xab; 32])).unwrap();
        assert!(!format!("{key:?}").contains("abab"));
    }
}
