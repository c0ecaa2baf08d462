//! The JWT signing secret: `KILN_JWT_SECRET`, or one generated on first run and kept beside
//! the database (`<db>.jwt-secret`, readable by the owner only) so tokens survive restarts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the generated secret of the database at `db` is kept.
pub fn secret_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".jwt-secret");
    PathBuf::from(name)
}

/// The secret: `configured` if given, else the stored one, else a new one (stored).
///
/// Why the stored secret could not be used or made.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file does not hold base64url.
    #[error("{} is not a secret this service wrote (expected base64url)", .0.display())]
    NotOurs(PathBuf),
    /// The file holds fewer than [`crate::auth::jwt::MIN_SECRET_LEN`] bytes.
    #[error("{} holds a secret shorter than {} bytes", .0.display(), crate::auth::jwt::MIN_SECRET_LEN)]
    TooShort(PathBuf),
    /// The file could not be read, created or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// `read`, `create` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// # Errors
/// [`SecretError`]: the stored secret cannot be read or is malformed, or a new one cannot be
/// written.
pub fn load_or_create(configured: Option<Vec<u8>>, db: &Path) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = configured {
        return Ok(secret);
    }
    let path = secret_path(db);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret =
                URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| SecretError::NotOurs(path.clone()))?;
            if secret.len() < crate::auth::jwt::MIN_SECRET_LEN {
                return Err(SecretError::TooShort(path));
            }
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = crate::auth::tokens::random_bytes::<48>().to_vec();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let io = |action: &'static str, path: &Path| {
                let path = path.to_path_buf();
                move |source| SecretError::Io { action, path, source }
            };
            let mut file = options.open(&path).map_err(io("create", &path))?;
            file.write_all(URL_SAFE_NO_PAD.encode(&secret).as_bytes()).map_err(io("write", &path))?;
            tracing::warn!(
                path = %path.display(),
                "KILN_JWT_SECRET is not set: generated a signing secret and stored it beside the database; set KILN_JWT_SECRET in production"
            );
            Ok(secret)
        }
        Err(source) => Err(SecretError::Io { action: "read", path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused_and_configured_wins() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let first = load_or_create(None, &db).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(load_or_create(None, &db).unwrap(), first, "kept across restarts");
        assert_eq!(load_or_create(Some(vec![1; 32]), &db).unwrap(), vec![1; 32]);
        std::fs::write(secret_path(&db), "!!!").unwrap();
        let e = load_or_create(None, &db).unwrap_err();
        assert!(matches!(e, SecretError::NotOurs(_)) && e.to_string().contains("base64url"), "{e}");
    }
}
