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
/// # Errors
/// The stored secret cannot be read or is malformed, or a new one cannot be written.
pub fn load_or_create(configured: Option<Vec<u8>>, db: &Path) -> Result<Vec<u8>, String> {
    if let Some(secret) = configured {
        return Ok(secret);
    }
    let path = secret_path(db);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| {
                format!("{} is not a secret this service wrote (expected base64url)", path.display())
            })?;
            if secret.len() < crate::auth::jwt::MIN_SECRET_LEN {
                return Err(format!("{} holds a secret shorter than 32 bytes", path.display()));
            }
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = crate::auth::tokens::random_bytes::<48>().to_vec();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file =
                options.open(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            file.write_all(URL_SAFE_NO_PAD.encode(&secret).as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "KILN_JWT_SECRET is not set: generated a signing secret and stored it beside the database; set KILN_JWT_SECRET in production"
            );
            Ok(secret)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
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
        assert!(load_or_create(None, &db).unwrap_err().contains("base64url"));
    }
}
