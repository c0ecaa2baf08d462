//! Configuration: flags, then environment variables, then defaults; `--help` lists them.
//! A bad value stops startup with a message naming the value and why (exit status 2).

use crate::auth::AuthConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `--help` text.
pub const USAGE: &str = "\
kiln: the Kiln service (auth, the book library, loans) on SQLite

usage: kiln [options]                       (cargo run --release -- [options])
       kiln worker [options]                    job workers only, on the same database or
                                                Redis (--db, --redis, --workers, --job-*,
                                                --mailer-url)
       kiln mailer [--addr] [--outbox] [--fail-rate] [--delay-ms]
                                                the mailer service welcome emails go to
       kiln admin promote <email> [--db PATH]   make a user an admin (the first account to
                                                sign up is one already)

options (flag / environment variable, default):
  --addr ADDR              KILN_ADDR          127.0.0.1:8080
  --db PATH                KILN_DB            ./kiln.db
  --bcrypt-cost N          KILN_BCRYPT_COST   12 (4..=31)
  --access-ttl SECS        KILN_ACCESS_TTL    900 (access tokens)
  --refresh-ttl SECS       KILN_REFRESH_TTL   2592000 (30 days)
  --readers N              KILN_DB_READERS    4 (read connections)
  --refresh-grace SECS     KILN_REFRESH_GRACE 10 (a retried refresh gets the same pair; 0..=300)
  --login-free-failures N  KILN_LOGIN_FREE_FAILURES 5 (per email and client address)
  --login-free-per-address N KILN_LOGIN_FREE_PER_ADDRESS 100 (per client address)
  --login-max-delay SECS   KILN_LOGIN_MAX_DELAY 900 (the growing delay's cap)
  --bcrypt-threads N       KILN_BCRYPT_THREADS half the CPUs (hashes at once)
  --bcrypt-queue N         KILN_BCRYPT_QUEUE  8 per thread (waiting hashes; then 503)
  --auth-rate N            KILN_AUTH_RATE     5 (requests per second per address on /auth/*)
  --auth-burst N           KILN_AUTH_BURST    20 (… in bursts of up to this many)
  --workers N              KILN_WORKERS       4 (jobs run at once in this process; 0: none)
  --job-lease SECS         KILN_JOB_LEASE     30 (a dead worker's job runs again after this)
  --job-drain SECS         KILN_JOB_DRAIN     10 (at shutdown, running jobs may finish for this long)
  --job-retention SECS     KILN_JOB_RETENTION 604800 (7 days: finished jobs are then deleted)
  --mailer-url URL         KILN_MAILER_URL    none: emails go to <db>.outbox (`kiln mailer` serves one)
  --metrics-addr ADDR      KILN_METRICS_ADDR  none; `kiln worker` only: serve /metrics, /healthz
                                              and /readyz there, for Prometheus and probes
  --database-url URL       DATABASE_URL       none: SQLite in --db; with postgres://user:password@host[:port]/db
                                              the data (and the job queue) live in PostgreSQL,
                                              shared by every process (KILN_JWT_SECRET then required)
  --db-pool N              KILN_DB_POOL       16 (PostgreSQL connections per process)
  --redis URL              KILN_REDIS_URL     none: jobs, the cache and rate limits stay in this
                                              process and its database; with
                                              redis://[:password@]host[:port][/db] they are
                                              shared by every process on that Redis
  --log-format FORMAT      KILN_LOG_FORMAT    pretty (one line per event); json: a JSON object per
                                              line with the span's fields (request_id, route,
                                              trace_id, user_id), for a log collector
  --cache-ttl SECS         KILN_CACHE_TTL     60 (books and listings in memory; 0: load every time)
  --cache-capacity N       KILN_CACHE_CAPACITY 10000 (entries per cache)
  -h, --help               this text
secret:
  KILN_JWT_SECRET          at least 32 random bytes (e.g. `openssl rand -base64 48`); if
                           unset, one is generated on first run and kept in
                           <db>.jwt-secret (with a warning)
traces (OpenTelemetry's variables; every command — service, worker, mailer — reads them):
  OTEL_EXPORTER_OTLP_ENDPOINT        a collector's http:// base URL (e.g. http://otel:4318):
                                     spans go to <URL>/v1/traces as OTLP/HTTP JSON; unset:
                                     no export (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: as is)
  OTEL_SERVICE_NAME                  kiln, kiln-worker or kiln-mailer by command
  OTEL_BSP_SCHEDULE_DELAY            5000 ms between batches at most
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE     512 spans per request
  OTEL_BSP_MAX_QUEUE_SIZE            2048 spans waiting; more are dropped and counted
  OTEL_EXPORTER_OTLP_TIMEOUT         10000 ms per request
login throttling: after N failures for one email from one address, each further attempt
waits 1 s, 2 s, 4 s, … up to the cap; one address gets N failures over all emails before
the same. The owner logging in from another address is never slowed (docs/week4.md).";

/// How log lines are written (`--log-format`): chosen before anything is logged, so it is read
/// straight from the arguments and the environment by [`crate::init_logging`]; parsing the
/// configuration checks the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = ();
    fn from_str(s: &str) -> Result<LogFormat, ()> {
        match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
        }
    }
}

impl LogFormat {
    /// The format `args` (`--log-format X`) or `env` (`KILN_LOG_FORMAT`) ask for; a bad
    /// value is pretty here (parsing the configuration reports it).
    pub fn from_args(args: &[String], env: impl Fn(&str) -> Option<String>) -> LogFormat {
        let flag = args.iter().position(|a| a == "--log-format").and_then(|i| args.get(i + 1)).cloned();
        flag.or_else(|| env("KILN_LOG_FORMAT")).and_then(|v| v.parse().ok()).unwrap_or_default()
    }
}

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
    /// The in-process job workers (`concurrency` 0: none).
    pub workers: crate::jobs::WorkerConfig,
    /// The mailer service's base URL; without one, mail goes to a file beside the database.
    pub mailer_url: Option<String>,
    /// The read-through caches of books and listings.
    pub cache: crate::cache::CacheConfig,
    /// Redis for the job queue, the caches and rate limits, shared by processes; `None`:
    /// all in this process and its SQLite file.
    pub redis: Option<kiln_redis::ClientConfig>,
    /// PostgreSQL instead of the SQLite file, if set.
    pub database_url: Option<kiln_postgres::Config>,
    /// PostgreSQL connections per process.
    pub db_pool: usize,
    /// `KILN_JWT_SECRET`, if set.
    pub jwt_secret: Option<Vec<u8>>,
    /// Where a worker process serves its probes and `/metrics`, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: ([127, 0, 0, 1], 8080).into(),
            db: PathBuf::from("kiln.db"),
            auth: AuthConfig::default(),
            readers: crate::db::pool::DEFAULT_READERS,
            workers: crate::jobs::WorkerConfig::default(),
            mailer_url: None,
            cache: crate::cache::CacheConfig::default(),
            redis: None,
            database_url: None,
            db_pool: 16,
            jwt_secret: None,
            metrics_addr: None,
        }
    }
}

/// What parsing decided.
#[derive(Debug)]
pub enum Parsed {
    /// Run with this configuration.
    Run(Box<Config>),
    /// Print [`USAGE`] and exit 0.
    Help,
}

/// Why a configuration was refused; its message names the flag or variable and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// PostgreSQL is shared by processes that must all sign tokens with one key.
    #[error("with --database-url every process must sign tokens with the same key: set KILN_JWT_SECRET (e.g. to the output of `openssl rand -base64 48`) in each")]
    SharedSecretNeeded,
    /// An argument that is not a flag of the service.
    #[error("unknown argument {0:?} (try --help)")]
    UnknownArgument(String),
    /// A flag given last, without its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A value that does not parse, or lies outside its range.
    #[error("{flag}: {value:?} is not valid: {expected}")]
    InvalidValue {
        /// The flag (its environment variable sets the same).
        flag: &'static str,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// `KILN_JWT_SECRET` is not a random key.
    #[error("KILN_JWT_SECRET {0}; it must be at least {min} random bytes, e.g. the output of `openssl rand -base64 48`", min = crate::auth::jwt::MIN_SECRET_LEN)]
    WeakSecret(WeakSecret),
}

/// What is wrong with a configured signing secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeakSecret {
    /// Fewer bytes than [`crate::auth::jwt::MIN_SECRET_LEN`].
    #[error("is {0} bytes")]
    TooShort(usize),
    /// One short piece, repeated.
    #[error("is one short piece repeated")]
    Repeated,
    /// Too little variety for its length.
    #[error("looks predictable (about {bits} bits of variety in {len} bytes, {MIN_SECRET_BITS} needed)")]
    Predictable {
        /// Its length times the entropy of its byte frequencies, rounded.
        bits: u32,
        /// Its length.
        len: usize,
    },
}

fn parse_value<T: std::str::FromStr>(
    flag: &'static str,
    value: &str,
    ok: impl Fn(&T) -> bool,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.parse::<T>().ok().filter(|v| ok(v)).ok_or_else(|| ConfigError::InvalidValue {
        flag,
        value: value.to_owned(),
        expected,
    })
}

/// Parses `args` (without the program name) over the environment `env`.
///
/// # Errors
/// [`ConfigError`], naming the bad value and the reason.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Parsed, ConfigError> {
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for (flag, var) in FLAGS {
        if let Some(v) = env(var) {
            values.push((flag, v));
        }
    }
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if matches!(arg.as_str(), "-h" | "--help") {
            return Ok(Parsed::Help);
        }
        let Some(&(flag, _)) = FLAGS.iter().find(|(f, _)| f == arg) else {
            return Err(ConfigError::UnknownArgument(arg.clone()));
        };
        let v = it.next().ok_or(ConfigError::MissingValue(flag))?;
        values.push((flag, v.clone()));
    }
    let mut c = Config::default();
    for (flag, v) in values {
        match flag {
            "--addr" => c.addr = parse_value(flag, &v, |_| true, "expected HOST:PORT, e.g. 127.0.0.1:8080")?,
            "--db" => c.db = PathBuf::from(&v),
            "--metrics-addr" => {
                c.metrics_addr =
                    Some(parse_value(flag, &v, |_| true, "expected HOST:PORT, e.g. 0.0.0.0:9464")?)
            }
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
            "--refresh-grace" => {
                c.auth.refresh_grace_secs =
                    parse_value(flag, &v, |n| (0..=300).contains(n), "0 to 300 seconds")?
            }
            "--login-free-failures" => {
                c.auth.throttle.free_failures =
                    parse_value(flag, &v, |n| (1..=1000).contains(n), "1 to 1000")?
            }
            "--login-free-per-address" => {
                c.auth.throttle.free_failures_per_address =
                    parse_value(flag, &v, |n| (1..=1_000_000).contains(n), "1 to 1000000")?
            }
            "--login-max-delay" => {
                let secs = parse_value(flag, &v, |n| (1..=86_400).contains(n), "1 to 86400 seconds")?;
                c.auth.throttle.max_delay = std::time::Duration::from_secs(secs);
            }
            "--bcrypt-threads" => {
                c.auth.bcrypt_threads = parse_value(flag, &v, |n| (1..=256).contains(n), "1 to 256 threads")?
            }
            "--bcrypt-queue" => {
                c.auth.bcrypt_queue = parse_value(flag, &v, |n| (0..=100_000).contains(n), "0 to 100000")?
            }
            "--auth-rate" => {
                c.auth.rate_per_sec = parse_value(flag, &v, |n| (1..=1_000_000).contains(n), "1 to 1000000")?
            }
            "--auth-burst" => {
                c.auth.rate_burst = parse_value(flag, &v, |n| (1..=1_000_000).contains(n), "1 to 1000000")?
            }
            "--workers" => {
                c.workers.concurrency = parse_value(flag, &v, |n| (0..=256).contains(n), "0 to 256")?
            }
            "--job-lease" => {
                let secs = parse_value(flag, &v, |n| (1..=3600).contains(n), "1 to 3600 seconds")?;
                c.workers.lease = std::time::Duration::from_secs(secs);
            }
            "--job-drain" => {
                let secs = parse_value(flag, &v, |n| (0..=3600).contains(n), "0 to 3600 seconds")?;
                c.workers.drain = std::time::Duration::from_secs(secs);
            }
            "--mailer-url" => {
                let ok =
                    |u: &String| u.starts_with("http://") && u.len() > 7 && !u.contains(char::is_whitespace);
                c.mailer_url = Some(parse_value(flag, &v, ok, "an http:// URL, e.g. http://127.0.0.1:8025")?)
            }
            "--redis" => {
                let url = kiln_redis::ClientConfig::from_url(&v).map_err(|_| ConfigError::InvalidValue {
                    flag,
                    // A password in it is not echoed to the terminal or a log.
                    value: if v.contains('@') { "<a URL with credentials>".into() } else { v.clone() },
                    expected: "a redis://[user:password@]host[:port][/db] URL, e.g. redis://127.0.0.1:6379",
                })?;
                c.redis = Some(url);
            }
            "--database-url" => {
                let url = kiln_postgres::Config::from_url(&v).map_err(|_| ConfigError::InvalidValue {
                    flag,
                    value: if v.contains('@') { "<a URL with credentials>".into() } else { v.clone() },
                    expected: "a postgres://user[:password]@host[:port]/database URL",
                })?;
                c.database_url = Some(url);
            }
            "--log-format" => {
                let _: LogFormat = parse_value(flag, &v, |_| true, "pretty or json")?;
            }
            "--db-pool" => {
                c.db_pool = parse_value(flag, &v, |n| (1..=1000).contains(n), "1 to 1000 connections")?
            }
            "--cache-ttl" => {
                let secs = parse_value(flag, &v, |n| (0..=3600).contains(n), "0 to 3600 seconds")?;
                c.cache.ttl = std::time::Duration::from_secs(secs);
                c.cache.negative_ttl = c.cache.negative_ttl.min(c.cache.ttl);
            }
            "--cache-capacity" => {
                c.cache.capacity = parse_value(flag, &v, |n| (1..=10_000_000).contains(n), "1 to 10000000")?
            }
            "--job-retention" => {
                let secs = parse_value(flag, &v, |n| (60..=31_536_000).contains(n), "60 s to one year")?;
                c.workers.retention = std::time::Duration::from_secs(secs);
            }
            _ => unreachable!("only the flags listed above are collected"),
        }
    }
    if let Some(secret) = env("KILN_JWT_SECRET") {
        check_secret(&secret).map_err(ConfigError::WeakSecret)?;
        c.jwt_secret = Some(secret.into_bytes());
    }
    if c.database_url.is_some() && c.jwt_secret.is_none() {
        return Err(ConfigError::SharedSecretNeeded);
    }
    Ok(Parsed::Run(Box::new(c)))
}

/// Every flag with its environment variable.
const FLAGS: [(&str, &str); 26] = [
    ("--addr", "KILN_ADDR"),
    ("--db", "KILN_DB"),
    ("--bcrypt-cost", "KILN_BCRYPT_COST"),
    ("--access-ttl", "KILN_ACCESS_TTL"),
    ("--refresh-ttl", "KILN_REFRESH_TTL"),
    ("--readers", "KILN_DB_READERS"),
    ("--refresh-grace", "KILN_REFRESH_GRACE"),
    ("--login-free-failures", "KILN_LOGIN_FREE_FAILURES"),
    ("--login-free-per-address", "KILN_LOGIN_FREE_PER_ADDRESS"),
    ("--login-max-delay", "KILN_LOGIN_MAX_DELAY"),
    ("--bcrypt-threads", "KILN_BCRYPT_THREADS"),
    ("--bcrypt-queue", "KILN_BCRYPT_QUEUE"),
    ("--auth-rate", "KILN_AUTH_RATE"),
    ("--auth-burst", "KILN_AUTH_BURST"),
    ("--workers", "KILN_WORKERS"),
    ("--job-lease", "KILN_JOB_LEASE"),
    ("--job-drain", "KILN_JOB_DRAIN"),
    ("--job-retention", "KILN_JOB_RETENTION"),
    ("--mailer-url", "KILN_MAILER_URL"),
    ("--metrics-addr", "KILN_METRICS_ADDR"),
    ("--redis", "KILN_REDIS_URL"),
    ("--database-url", "DATABASE_URL"),
    ("--db-pool", "KILN_DB_POOL"),
    ("--log-format", "KILN_LOG_FORMAT"),
    ("--cache-ttl", "KILN_CACHE_TTL"),
    ("--cache-capacity", "KILN_CACHE_CAPACITY"),
];

/// The least variety a configured secret must show, in bits: its length times the entropy
/// of its own byte frequencies. Random bytes in base64 or hex show far more (32 hex digits
/// ≈ 118, 64 base64 characters ≈ 350); repeated or patterned text shows far less (32 spaces
/// show 0, "abab…" 32).
pub const MIN_SECRET_BITS: f64 = 96.0;

/// Refuses a secret that is short or visibly not random — too little variety, or one piece
/// repeated (RFC 8725 §3.5: an HMAC key must not be a human-chosen password).
fn check_secret(secret: &str) -> Result<(), WeakSecret> {
    if secret.len() < crate::auth::jwt::MIN_SECRET_LEN {
        return Err(WeakSecret::TooShort(secret.len()));
    }
    let mut counts = [0usize; 256];
    for b in secret.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = secret.len() as f64;
    let per_byte: f64 =
        counts.iter().filter(|&&k| k > 0).map(|&k| -(k as f64 / n) * (k as f64 / n).log2()).sum();
    let bits = per_byte * n;
    let bytes = secret.as_bytes();
    let repeats = (1..=bytes.len() / 2).any(|p| bytes.iter().zip(&bytes[p..]).all(|(a, b)| a == b));
    if repeats {
        return Err(WeakSecret::Repeated);
    }
    if bits < MIN_SECRET_BITS {
        return Err(WeakSecret::Predictable { bits: bits.round() as u32, len: secret.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        parse(&args, |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env).unwrap() {
            Parsed::Run(c) => *c,
            Parsed::Help => panic!("asked for help"),
        }
    }

    #[test]
    fn flags_override_environment_over_defaults() {
        let c = config(&[], &[]);
        assert_eq!((c.addr.to_string(), c.auth.bcrypt_cost), ("127.0.0.1:8080".into(), 12));
        let c = config(&["--bcrypt-cost", "5"], &[("KILN_BCRYPT_COST", "6"), ("KILN_DB", "/tmp/x.db")]);
        assert_eq!((c.auth.bcrypt_cost, c.db), (5, PathBuf::from("/tmp/x.db")));
        assert!(matches!(run(&["--help"], &[]), Ok(Parsed::Help)));
    }

    #[test]
    fn bad_values_name_the_value_and_the_reason() {
        let e = run(&["--bcrypt-cost", "99"], &[]).unwrap_err();
        assert_eq!(
            e,
            ConfigError::InvalidValue {
                flag: "--bcrypt-cost",
                value: "99".into(),
                expected: "bcrypt costs are 4 to 31"
            }
        );
        assert_eq!(e.to_string(), "--bcrypt-cost: \"99\" is not valid: bcrypt costs are 4 to 31");
        assert!(run(&["--addr", "nowhere"], &[]).unwrap_err().to_string().contains("HOST:PORT"));
        assert_eq!(
            run(&["--frobnicate"], &[]).unwrap_err(),
            ConfigError::UnknownArgument("--frobnicate".into())
        );
        assert_eq!(run(&["--db"], &[]).unwrap_err(), ConfigError::MissingValue("--db"));
        let e = run(&[], &[("KILN_JWT_SECRET", "short")]).unwrap_err();
        assert_eq!(e, ConfigError::WeakSecret(WeakSecret::TooShort(5)));
        assert!(e.to_string().contains("5 bytes") && e.to_string().contains("at least 32"), "{e}");
        assert!(run(&["--redis", "http://x"], &[]).unwrap_err().to_string().contains("redis://"));
        let e = run(&[], &[("KILN_REDIS_URL", "redis://:hunter2@h/x")]).unwrap_err().to_string();
        assert!(e.contains("--redis") && !e.contains("hunter2"), "{e}");
        let c = config(&["--redis", "redis://:pw@cache:6380/1"], &[]);
        let redis = c.redis.expect("parsed");
        assert_eq!((redis.addr.as_str(), redis.db), ("cache:6380", 1));
        assert!(!format!("{redis:?}").contains("pw@") && format!("{redis:?}").contains("redacted"));
        assert!(run(&["--refresh-grace", "301"], &[]).unwrap_err().to_string().contains("0 to 300"));
        let c =
            config(&["--login-free-failures", "3", "--auth-burst", "99"], &[("KILN_BCRYPT_THREADS", "2")]);
        assert_eq!((c.auth.throttle.free_failures, c.auth.rate_burst, c.auth.bcrypt_threads), (3, 99, 2));
    }

    #[test]
    fn a_secret_must_look_random() {
        for weak in [
            " ".repeat(32),
            "a".repeat(64),
            "ab".repeat(32),
            "password".repeat(5),
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb".into(),
        ] {
            let e = run(&[], &[("KILN_JWT_SECRET", &weak)]).unwrap_err();
            assert!(
                matches!(e, ConfigError::WeakSecret(WeakSecret::Predictable { .. } | WeakSecret::Repeated)),
                "{weak:?}: {e:?}"
            );
            assert!(e.to_string().contains("openssl rand"), "{e}");
        }
        // What `openssl rand -hex 16` and `-base64 48` print.
        for strong in [
            "3f9a0c7e51b2d84a6e0f1c9b72d5a8e3",
            "q8Zr1mX0v3LkP9sTnB2wYc7HfJ4eGd6uA5iKoQ1lR8xV0zN3bM7tS2yW9pE4aC6h",
        ] {
            assert!(run(&[], &[("KILN_JWT_SECRET", strong)]).is_ok(), "{strong}");
        }
    }
}
