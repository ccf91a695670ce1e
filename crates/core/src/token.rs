//! Bearer tokens (SESS-1): 256 random bits, handed out once as hex, stored only as SHA-256.
//! SHA-256 without a key is enough here: the token has full entropy, so the hash can't be
//! reversed or guessed; a database leak gives no usable cookie.

use crate::random::Random;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A freshly generated secret token; shown to its holder once.
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn generate(rng: &dyn Random) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(bytes.as_mut());
        Self(Zeroizing::new(hex::encode(bytes.as_ref())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> Vec<u8> {
        hash_token(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The stored form of a token presented by a client. Anything is accepted: a wrong value just
/// matches nothing.
pub fn hash_token(presented: &str) -> Vec<u8> {
    Sha256::digest(presented.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn tokens_are_256_bits_and_unique() {
        let a = Token::generate(&OsRandom);
        let b = Token::generate(&OsRandom);
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_eq!(a.hash().len(), 32);
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }
}
