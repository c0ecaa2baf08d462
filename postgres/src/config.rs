//! How a client connects: from a `postgres://` URL, the form every PostgreSQL tool takes.

use crate::error::PgError;
use std::time::Duration;

/// Connection settings. Its `Debug` shows whether there is a password, never the password.
#[derive(Clone)]
pub struct Config {
    /// `host:port`.
    pub addr: String,
    /// The role.
    pub user: String,
    /// Its password, if the server asks for one.
    pub password: Option<String>,
    /// The database.
    pub database: String,
    /// `application_name`, shown in `pg_stat_activity`.
    pub application_name: String,
    /// Connecting, TLS-free, and authenticating.
    pub connect_timeout: Duration,
    /// The server cancels any statement running longer (`statement_timeout`); `None`: the
    /// server's setting.
    pub statement_timeout: Option<Duration>,
    /// Prepared statements kept per connection (least recently used dropped first).
    pub statement_cache: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> Result<String, PgError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex =
                s.get(i + 1..i + 3).ok_or_else(|| PgError::Config(format!("a bad %-escape in {s:?}")))?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| PgError::Config(format!("a bad %-escape in {s:?}")))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PgError::Config(format!("{s:?} is not UTF-8 once decoded")))
}

impl Config {
    /// The settings a `postgres://user[:password]@host[:port][/database][?key=value&…]` URL
    /// describes (`postgresql://` too). Port 5432; the database defaults to the user's name.
    /// Query keys: `application_name`, `connect_timeout` (seconds), `statement_timeout`
    /// (milliseconds), `statement_cache` (statements).
    ///
    /// # Errors
    /// [`PgError::Config`] naming what does not parse.
    pub fn from_url(url: &str) -> Result<Config, PgError> {
        let bad = |why: &str| PgError::Config(format!("{why} in a postgres:// URL"));
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| bad("no postgres:// scheme"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').ok_or_else(|| bad("no user"))?;
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (percent_decode(u)?, Some(percent_decode(p)?)),
            None => (percent_decode(userinfo)?, None),
        };
        if user.is_empty() || hostport.is_empty() {
            return Err(bad("no user or no host"));
        }
        let addr = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            hostport.to_owned()
        } else {
            format!("{hostport}:5432")
        };
        let database = if database.is_empty() { user.clone() } else { percent_decode(database)? };
        let mut config = Config { addr, user, password, database, ..Config::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| bad(&format!("{pair:?} is not key=value")))?;
            let number =
                || value.parse::<u64>().map_err(|_| bad(&format!("{key}={value:?} is not a number")));
            match key {
                "application_name" => config.application_name = percent_decode(value)?,
                "connect_timeout" => config.connect_timeout = Duration::from_secs(number()?),
                "statement_timeout" => config.statement_timeout = Some(Duration::from_millis(number()?)),
                "statement_cache" => config.statement_cache = number()? as usize,
                _ => return Err(bad(&format!("an unknown setting {key:?}"))),
            }
        }
        Ok(config)
    }
}

impl Default for Config {
    /// `kiln@127.0.0.1:5432/kiln`, no password, 5 s to connect, 100 cached statements.
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:5432".into(),
            user: "kiln".into(),
            password: None,
            database: "kiln".into(),
            application_name: "kiln".into(),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: None,
            statement_cache: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_address_user_password_database_and_settings() {
        let c = Config::from_url("postgres://app:p%40ss@db.internal/library?statement_timeout=1500").unwrap();
        assert_eq!(
            (c.addr.as_str(), c.user.as_str(), c.password.as_deref(), c.database.as_str()),
            ("db.internal:5432", "app", Some("p@ss"), "library")
        );
        assert_eq!(c.statement_timeout, Some(Duration::from_millis(1500)));
        let c = Config::from_url("postgresql://me@127.0.0.1:6543").unwrap();
        assert_eq!((c.addr.as_str(), c.database.as_str(), c.password), ("127.0.0.1:6543", "me", None));
        assert!(!format!("{:?}", Config::from_url("postgres://a:secret@h/d").unwrap()).contains("secret"));
        for bad in
            ["mysql://a@h", "postgres://h/d", "postgres://a@h/d?x=1", "postgres://a@h/d?connect_timeout=soon"]
        {
            assert!(Config::from_url(bad).is_err(), "{bad}");
        }
    }
}
