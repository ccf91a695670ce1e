//! Randomness, passed in like the clock: tokens, NIC handle digits and customer codes all come from a
//! [`Random`], so tests can replay a sequence (for example to force NIC handle collisions).

/// A source of random bytes. Production uses the operating system's CSPRNG.
pub trait Random: Send + Sync + std::fmt::Debug {
    fn fill(&self, buf: &mut [u8]);

    /// A uniformly distributed number in `0..bound` (rejection sampling, no modulo bias).
    fn below(&self, bound: u64) -> u64 {
        if bound <= 1 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let mut bytes = [0u8; 8];
            self.fill(&mut bytes);
            let n = u64::from_le_bytes(bytes);
            if n < zone {
                return n % bound;
            }
        }
    }
}

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all; there is no safe
        // fallback for a security service, so refuse to go on.
        if let Err(err) = getrandom::fill(buf) {
            tracing::error!(%err, "the operating system refused random bytes");
            std::process::abort();
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Random;
    use std::sync::Mutex;

    /// Replays a fixed list of numbers for [`Random::below`]-driven code; bytes for everything else.
    #[derive(Debug)]
    pub struct Scripted {
        pub values: Mutex<Vec<u64>>,
    }

    impl Scripted {
        pub fn new(mut values: Vec<u64>) -> Self {
            values.reverse();
            Self {
                values: Mutex::new(values),
            }
        }
    }

    impl Random for Scripted {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(7);
        }
        fn below(&self, bound: u64) -> u64 {
            let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
            values.pop().unwrap_or(0) % bound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let rng = OsRandom;
        for bound in [1u64, 2, 7, 10, 1000, 90_000] {
            for _ in 0..200 {
                assert!(rng.below(bound) < bound);
            }
        }
    }
}
