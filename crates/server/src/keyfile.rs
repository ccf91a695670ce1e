//! SEC-1: reading the server key file, or creating it (mode 0600, under the data directory) when
//! no path was configured and none exists yet. A configured path that is missing is an error:
//! several nodes must share one key file, and silently making a new one would split them.

use sesame_core::keys::{KeyError, ServerKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "setting `secret_key_file`: {path} does not exist (create it, or leave the setting empty to generate one under data_dir)"
    )]
    Missing { path: String },
    #[error("setting `secret_key_file`: cannot read or write {path}: {why}")]
    Io { path: String, why: String },
    #[error("setting `secret_key_file`: {path}: {why}")]
    Invalid { path: String, why: KeyError },
}

pub fn load_or_create(path: &Path, may_create: bool, now: time::OffsetDateTime) -> Result<ServerKey, KeyFileError> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| KeyFileError::Io {
        path: shown.clone(),
        why: e.to_string(),
    };
    if !path.exists() {
        if !may_create {
            return Err(KeyFileError::Missing { path: shown });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let mut id_bytes = [0u8; 3];
        getrandom::fill(&mut id_bytes).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let id = format!(
            "k{:04}{:02}{:02}-{:02x}{:02x}{:02x}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            id_bytes[0],
            id_bytes[1],
            id_bytes[2]
        );
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(ServerKey::new_line(&id, &secret).as_bytes())
            .map_err(io)?;
        file.sync_all().map_err(io)?;
        tracing::info!(path = %shown, key_id = %id, "generated a new server key");
    }
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %shown, "the server key file is readable by other users; chmod 600 it");
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    ServerKey::parse(&text).map_err(|why| KeyFileError::Invalid { path: shown, why })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn generates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.key");
        let first = load_or_create(&path, true, datetime!(2026-11-25 10:00 UTC)).unwrap();
        assert!(first.id().starts_with("k20261125-"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = load_or_create(&path, true, datetime!(2026-11-26 10:00 UTC)).unwrap();
        assert_eq!(first.id(), again.id());
    }

    #[test]
    fn a_configured_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_create(&dir.path().join("nope.key"), false, datetime!(2026-11-25 10:00 UTC)).unwrap_err();
        assert!(err.to_string().contains("`secret_key_file`"), "{err}");
    }

    #[test]
    fn a_malformed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            load_or_create(&path, false, datetime!(2026-11-25 10:00 UTC)),
            Err(KeyFileError::Invalid { .. })
        ));
    }
}
