//! Configuration: flags, then environment variables, then defaults; `--help` lists them.
//! A bad value stops startup with a message naming the value and why (exit status 2).

use crate::auth::AuthConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `--help` text.
pub const USAGE: &str = "\
kiln: the Kiln service (auth, the book library, loans) on SQLite

usage: kiln [options]
       kiln admin promote <email> [--db PATH]   make a user an admin

options (flag / environment variable, default):
  --addr ADDR              KILN_ADDR          127.0.0.1:8080
  --db PATH                KILN_DB            ./kiln.db
  --bcrypt-cost N          KILN_BCRYPT_COST   12 (4..=31)
  --access-ttl SECS        KILN_ACCESS_TTL    900 (access tokens)
  --refresh-ttl SECS       KILN_REFRESH_TTL   2592000 (30 days)
  --readers N              KILN_DB_READERS    4 (read connections)
  -h, --help               this text
secret:
  KILN_JWT_SECRET          at least 32 bytes; if unset, one is generated on first run and
                           kept in <db>.jwt-secret (with a warning)";

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The SQLite file.
    pub db: PathBuf,
    /// Auth settings.
    pub auth: AuthConfig,
    /// Read connections in the pool.
    pub readers: usize,
    /// `KILN_JWT_SECRET`, if set.
    pub jwt_secret: Option<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: ([127, 0, 0, 1], 8080).into(),
            db: PathBuf::from("kiln.db"),
            auth: AuthConfig::default(),
            readers: crate::db::pool::DEFAULT_READERS,
            jwt_secret: None,
        }
    }
}

/// What parsing decided.
#[derive(Debug)]
pub enum Parsed {
    /// Run with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit 0.
    Help,
}

fn parse_value<T: std::str::FromStr>(
    name: &str,
    value: &str,
    ok: impl Fn(&T) -> bool,
    why: &str,
) -> Result<T, String> {
    value.parse::<T>().ok().filter(|v| ok(v)).ok_or_else(|| format!("{name}: {value:?} is not valid: {why}"))
}

/// Parses `args` (without the program name) over the environment `env`.
///
/// # Errors
/// A message naming the bad value and the reason.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Parsed, String> {
    let mut values: Vec<(&str, String)> = Vec::new();
    for (flag, var) in [
        ("--addr", "KILN_ADDR"),
        ("--db", "KILN_DB"),
        ("--bcrypt-cost", "KILN_BCRYPT_COST"),
        ("--access-ttl", "KILN_ACCESS_TTL"),
        ("--refresh-ttl", "KILN_REFRESH_TTL"),
        ("--readers", "KILN_DB_READERS"),
    ] {
        if let Some(v) = env(var) {
            values.push((flag, v));
        }
    }
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            flag @ ("--addr" | "--db" | "--bcrypt-cost" | "--access-ttl" | "--refresh-ttl" | "--readers") => {
                let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                values.push((flag, v.clone()));
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let mut c = Config::default();
    for (flag, v) in values {
        match flag {
            "--addr" => c.addr = parse_value(flag, &v, |_| true, "expected HOST:PORT, e.g. 127.0.0.1:8080")?,
            "--db" => c.db = PathBuf::from(&v),
            "--bcrypt-cost" => {
                c.auth.bcrypt_cost =
                    parse_value(flag, &v, |n| (4..=31).contains(n), "bcrypt costs are 4 to 31")?
            }
            "--access-ttl" => {
                c.auth.access_ttl_secs =
                    parse_value(flag, &v, |n| (1..=86_400).contains(n), "1 to 86400 seconds")?
            }
            "--refresh-ttl" => {
                c.auth.refresh_ttl_secs =
                    parse_value(flag, &v, |n| (60..=31_536_000).contains(n), "60 s to one year")?
            }
            "--readers" => {
                c.readers = parse_value(flag, &v, |n| (1..=64).contains(n), "1 to 64 connections")?
            }
            _ => unreachable!("only the flags listed above are collected"),
        }
    }
    if let Some(secret) = env("KILN_JWT_SECRET") {
        if secret.len() < crate::auth::jwt::MIN_SECRET_LEN {
            return Err(format!(
                "KILN_JWT_SECRET is {} bytes; at least {} are needed (e.g. `openssl rand -base64 48`)",
                secret.len(),
                crate::auth::jwt::MIN_SECRET_LEN
            ));
        }
        c.jwt_secret = Some(secret.into_bytes());
    }
    Ok(Parsed::Run(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        match parse(&args, |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))? {
            Parsed::Run(c) => Ok(c),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn flags_override_environment_over_defaults() {
        let c = run(&[], &[]).unwrap();
        assert_eq!((c.addr.to_string(), c.auth.bcrypt_cost), ("127.0.0.1:8080".into(), 12));
        let c = run(&["--bcrypt-cost", "5"], &[("KILN_BCRYPT_COST", "6"), ("KILN_DB", "/tmp/x.db")]).unwrap();
        assert_eq!((c.auth.bcrypt_cost, c.db), (5, PathBuf::from("/tmp/x.db")));
        assert_eq!(run(&["--help"], &[]).unwrap_err(), "help");
    }

    #[test]
    fn bad_values_name_the_value_and_the_reason() {
        let e = run(&["--bcrypt-cost", "99"], &[]).unwrap_err();
        assert!(e.contains("--bcrypt-cost") && e.contains("\"99\"") && e.contains("4 to 31"), "{e}");
        assert!(run(&["--addr", "nowhere"], &[]).unwrap_err().contains("HOST:PORT"));
        assert!(run(&["--frobnicate"], &[]).unwrap_err().contains("unknown argument"));
        assert!(run(&["--db"], &[]).unwrap_err().contains("needs a value"));
        let e = run(&[], &[("KILN_JWT_SECRET", "short")]).unwrap_err();
        assert!(e.contains("5 bytes") && e.contains("at least 32"), "{e}");
    }
}
