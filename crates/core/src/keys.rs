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

/// One key of the file.
#[derive(Clone)]
struct Key {
    id: String,
    secret: Zeroizing<Vec<u8>>,
}

/// The server keys: the current one (first line) signs and seals; older ones (later lines) still
/// verify and open, so a rotation does not void codes, links and seeds made before it.
#[derive(Clone)]
pub struct ServerKey {
    keys: Vec<Key>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("ServerKey").field("ids", &ids).finish_non_exhaustive()
    }
}

impl ServerKey {
    /// A new key line, `KEY_ID:HEX`, from 32 random bytes and an id.
    pub fn new_line(id: &str, secret: &[u8; 32]) -> String {
        format!("{id}:{}\n", hex::encode(secret))
    }

    /// Reads the key file's text; the first key is the current one.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let malformed = KeyError::Malformed(index + 1);
            let (id, hex_secret) = line.trim().split_once(':').ok_or(malformed.clone())?;
            let secret = Zeroizing::new(hex::decode(hex_secret).map_err(|_| malformed.clone())?);
            let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !id_ok || secret.len() != 32 || keys.iter().any(|k: &Key| k.id == id) {
                return Err(malformed);
            }
            keys.push(Key {
                id: id.to_owned(),
                secret,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    fn current(&self) -> &Key {
        // `parse` refuses a file without keys, so there is always a first one.
        &self.keys[0]
    }

    pub fn id(&self) -> &str {
        &self.current().id
    }

    /// Encrypts a value that must be read back later (AEAD: XChaCha20-Poly1305 under a key
    /// derived from the server key for `purpose`, random nonce, the key id in front). Used for
    /// what a flow must keep between steps, like the password typed at sign-up step 2.
    pub fn seal(&self, purpose: &str, plaintext: &[u8], rng: &dyn crate::random::Random) -> Result<String, KeyError> {
        use chacha20poly1305::aead::{Aead, KeyInit as _};
        let key = mac(&self.current().secret, "aead-key", purpose.as_bytes());
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).map_err(|_| KeyError::Sealed)?;
        let mut nonce = [0u8; 24];
        rng.fill(&mut nonce);
        let sealed = cipher
            .encrypt((&nonce).into(), plaintext)
            .map_err(|_| KeyError::Sealed)?;
        Ok(format!("{}:{}:{}", self.id(), hex::encode(nonce), hex::encode(sealed)))
    }

    /// Decrypts what [`ServerKey::seal`] made for the same purpose.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        use chacha20poly1305::aead::{Aead, KeyInit as _};
        let mut parts = sealed.split(':');
        let (Some(id), Some(nonce), Some(body), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Sealed);
        };
        let sealing = self.keys.iter().find(|k| k.id == id).ok_or(KeyError::Sealed)?;
        let nonce: [u8; 24] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(KeyError::Sealed)?;
        let body = hex::decode(body).map_err(|_| KeyError::Sealed)?;
        let key = mac(&sealing.secret, "aead-key", purpose.as_bytes());
        let cipher = chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).map_err(|_| KeyError::Sealed)?;
        cipher
            .decrypt((&nonce).into(), body.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Sealed)
    }

    /// HMAC-SHA-256 of `data` under the current key, domain-separated by `purpose` so a value
    /// hashed for one use can never be replayed as another. This is what gets stored.
    pub fn hmac(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        mac(&self.current().secret, purpose, data)
    }

    /// The HMAC of `data` under every key, current first: what a stored value may be, when it
    /// was made before a rotation.
    pub fn hmacs(&self, purpose: &str, data: &[u8]) -> Vec<Vec<u8>> {
        self.keys.iter().map(|k| mac(&k.secret, purpose, data)).collect()
    }
}

fn mac(secret: &[u8], purpose: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac_key());
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
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
    fn older_keys_still_verify_and_open_after_a_rotation() {
        let rng = crate::random::OsRandom;
        let old = ServerKey::parse(&ServerKey::new_line("old", &[1; 32])).unwrap();
        let sealed = old.seal("seed", b"secret seed", &rng).unwrap();
        let code = old.hmac("code", b"123456");
        let text = format!(
            "{}{}",
            ServerKey::new_line("new", &[2; 32]),
            ServerKey::new_line("old", &[1; 32])
        );
        let rotated = ServerKey::parse(&text).unwrap();
        assert_eq!(rotated.id(), "new");
        assert_eq!(rotated.open("seed", &sealed).unwrap().as_slice(), b"secret seed");
        assert!(rotated.seal("seed", b"x", &rng).unwrap().starts_with("new:"));
        let candidates = rotated.hmacs("code", b"123456");
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0], rotated.hmac("code", b"123456"));
        assert!(candidates.contains(&code));
        let dup = format!(
            "{}{}",
            ServerKey::new_line("a", &[1; 32]),
            ServerKey::new_line("a", &[2; 32])
        );
        assert_eq!(ServerKey::parse(&dup).err(), Some(KeyError::Malformed(2)));
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = ServerKey::parse(&ServerKey::new_line("a", &[0xab; 32])).unwrap();
        assert!(!format!("{key:?}").contains("abab"));
    }
}
