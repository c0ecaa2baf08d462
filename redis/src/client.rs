//! [`Client`]: a connection that comes back, and the commands.
//!
//! The client holds one multiplexed [`Connection`] (every task's commands share it — the
//! fastest way to talk to one Redis) and replaces it when it fails. Replacing is
//! single-flight (one task reconnects, the others wait for it) and backs off: 100 ms, 200,
//! 400 … up to 5 s with full jitter, so a Redis that restarts is not stormed by every
//! process at once. Calls made while it is down fail at once with a transient error, which
//! a job queue turns into a retry.
//!
//! A new connection says `HELLO 3` (RESP3) with the password if there is one, and falls
//! back to RESP2 (`AUTH`) on a server that does not know `HELLO`; then `SELECT`s its
//! database. Every command has a time limit; a command that must wait longer (`BLMOVE`,
//! `SUBSCRIBE`) belongs on a [`Client::dedicated`] connection, whose calls take a limit of
//! their own.

use crate::codec;
use crate::connection::Connection;
use crate::error::{ErrorKind, RedisError};
use crate::value::{FromValue, Value};
use kiln_net::net::TcpStream;
use kiln_runtime::sync::Mutex as AsyncMutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How a client connects. Its `Debug` shows whether there is a password, never the password.
#[derive(Clone)]
pub struct ClientConfig {
    /// `host:port`.
    pub addr: String,
    /// The database (`SELECT`).
    pub db: u32,
    /// `AUTH` user, if any (Redis 6 ACLs).
    pub username: Option<String>,
    /// `AUTH` password, if any.
    pub password: Option<String>,
    /// Connecting and the handshake.
    pub connect_timeout: Duration,
    /// Each command's answer.
    pub command_timeout: Duration,
    /// Connections in the pool, each shared by every task (pipelined); commands take them in
    /// turn. One is enough for most programs: a connection carries many commands at once,
    /// and more only help when one connection's reader or writer task is the bottleneck.
    pub connections: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("connections", &self.connections)
            .finish()
    }
}

impl ClientConfig {
    /// The configuration a `redis://[user:password@]host[:port][/db]` URL describes (port
    /// 6379 and database 0 by default).
    ///
    /// # Errors
    /// [`RedisError::Protocol`] for anything else.
    pub fn from_url(url: &str) -> Result<ClientConfig, RedisError> {
        let bad = || RedisError::Protocol(format!("not a redis://host[:port][/db] URL: {url:?}"));
        let rest = url.strip_prefix("redis://").ok_or_else(bad)?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, db)) => (h, db.parse().map_err(|_| bad())?),
            None => (rest, 0),
        };
        if hostport.is_empty() {
            return Err(bad());
        }
        let addr = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            hostport.to_owned()
        } else {
            format!("{hostport}:6379")
        };
        let (username, password) = match auth.map(|a| a.split_once(':').unwrap_or(("", a))) {
            None => (None, None),
            Some((user, pass)) => {
                ((!user.is_empty()).then(|| user.to_owned()), (!pass.is_empty()).then(|| pass.to_owned()))
            }
        };
        Ok(ClientConfig { addr, db, username, password, ..ClientConfig::local() })
    }

    /// `127.0.0.1:6379`, database 0, no password, 1 s to connect, 1 s per command, one
    /// connection.
    pub fn local() -> ClientConfig {
        ClientConfig {
            addr: "127.0.0.1:6379".into(),
            db: 0,
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            connections: 1,
        }
    }
}

/// A command: its name and arguments, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

/// Starts a command: `cmd("SET").arg("k").arg(7)`.
pub fn cmd(name: &str) -> Cmd {
    Cmd { args: vec![name.as_bytes().to_vec()] }
}

/// What can be an argument.
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> Vec<u8>;
}

impl ToArg for &str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &[u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}
/// Numbers are sent as their decimal text.
macro_rules! decimal_args {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}

decimal_args!(i32, i64, u32, u64, usize, f64);

impl Cmd {
    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl ToArg) -> Cmd {
        self.args.push(arg.to_arg());
        self
    }

    /// Appends the command, encoded, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        codec::encode(out, &self.args);
    }

    /// The command's name (`SET`, `EVALSHA`, …), for spans and logs.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        self.args.first().map_or(std::borrow::Cow::Borrowed(""), |a| String::from_utf8_lossy(a))
    }
}

/// Backoff between reconnection attempts.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

struct Down {
    failures: u32,
    retry_at: Instant,
    error: RedisError,
}

/// A Redis client; cheap to share (`Arc`), safe to use from every task.
///
/// It holds a pool of `config.connections` connections (one by default), each multiplexed:
/// every task's commands are pipelined on it. Commands take the connections in turn; one
/// that failed is made again on its next turn, with backoff after failures.
pub struct Client {
    config: ClientConfig,
    slots: Vec<Slot>,
    next: AtomicUsize,
    down: Mutex<Option<Down>>,
    /// Commands (and pipelines) that failed on the way: connection, timeout, protocol.
    failures: AtomicU64,
}

/// One connection of the pool.
struct Slot {
    current: Mutex<Option<Connection>>,
    /// Held while this slot's connection is being made: one reconnect at a time.
    connecting: AsyncMutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.config.addr)
            .field("db", &self.config.db)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// A client that connects on first use.
    pub fn new(config: ClientConfig) -> Client {
        let slots = (0..config.connections.max(1))
            .map(|_| Slot { current: Mutex::new(None), connecting: AsyncMutex::new(()) })
            .collect();
        Client {
            config,
            slots,
            next: AtomicUsize::new(0),
            down: Mutex::new(None),
            failures: AtomicU64::new(0),
        }
    }

    /// A client with every connection made now (to report a wrong address or password at
    /// startup).
    ///
    /// # Errors
    /// A connection or its handshake failed.
    pub async fn connect(config: ClientConfig) -> Result<Client, RedisError> {
        let client = Client::new(config);
        for _ in 0..client.slots.len() {
            client.connection().await?;
        }
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The next connection of the pool, made (again) if there is none or it failed.
    async fn connection(&self) -> Result<Connection, RedisError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(c) = lock(&slot.current).as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let _one = slot.connecting.lock().await;
        if let Some(c) = lock(&slot.current).as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone()); // another task reconnected meanwhile
        }
        if let Some(down) = lock(&self.down).as_ref() {
            if Instant::now() < down.retry_at {
                return Err(down.error.clone());
            }
        }
        match open(&self.config, None).await {
            Ok(c) => {
                if lock(&self.down).take().is_some() {
                    tracing::info!(addr = %self.config.addr, "redis: connected again");
                }
                *lock(&slot.current) = Some(c.clone());
                Ok(c)
            }
            Err(error) => {
                let mut down = lock(&self.down);
                let failures = down.as_ref().map_or(0, |d| d.failures) + 1;
                let window = RECONNECT_MIN.saturating_mul(1 << (failures - 1).min(10)).min(RECONNECT_MAX);
                let wait = window.mul_f64(jitter());
                tracing::warn!(addr = %self.config.addr, %error, failures, retry_in = ?wait, "redis: cannot connect");
                *down = Some(Down { failures, retry_at: Instant::now() + wait, error: error.clone() });
                Err(error)
            }
        }
    }

    /// Runs `command`, answered as `T`.
    ///
    /// # Errors
    /// The server's error, a failed connection, no answer in time, or an answer of another type.
    pub async fn query<T: FromValue>(&self, command: &Cmd) -> Result<T, RedisError> {
        let mut bytes = Vec::new();
        command.encode(&mut bytes);
        let span = tracing::info_span!(target: "kiln::data", "redis", "db.system" = "redis", "db.operation" = %command.name());
        let mut answers = self.send(bytes, 1).instrument(span).await?;
        T::from_value(answers.pop().expect("one answer")?)
    }

    /// Runs `commands` in one round trip (pipelined, not a transaction); an answer for each.
    ///
    /// # Errors
    /// A failed connection or no answers in time (each command's own error is in its answer).
    pub async fn pipeline(&self, commands: &[Cmd]) -> Result<Vec<Result<Value, RedisError>>, RedisError> {
        let mut bytes = Vec::new();
        for c in commands {
            c.encode(&mut bytes);
        }
        let span = tracing::info_span!(
            target: "kiln::data",
            "redis",
            "db.system" = "redis",
            "db.operation" = "pipeline",
            commands = commands.len()
        );
        self.send(bytes, commands.len()).instrument(span).await
    }

    /// Commands and pipelines that failed on the way since the client was made — a lost or
    /// refused connection, a timeout, a garbled answer; not the errors Redis answered with.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    async fn send(
        &self,
        bytes: Vec<u8>,
        answers: usize,
    ) -> Result<Vec<Result<Value, RedisError>>, RedisError> {
        let limit = self.config.command_timeout;
        let result = match self.connection().await {
            Ok(connection) => {
                match kiln_runtime::time::timeout(limit, connection.send_encoded(bytes, answers)).await {
                    Ok(result) => result,
                    Err(_) => Err(RedisError::Timeout(limit)),
                }
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// A connection of its own (not shared), for blocking commands and subscriptions.
    /// Pushes (RESP3 pub/sub messages) go to `pushes` if given.
    ///
    /// # Errors
    /// The connection or its handshake failed.
    pub async fn dedicated(
        &self,
        pushes: Option<kiln_runtime::sync::mpsc::UnboundedSender<Value>>,
    ) -> Result<Connection, RedisError> {
        open(&self.config, pushes).await
    }

    /// `GET key`.
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn get<T: FromValue>(&self, key: &str) -> Result<Option<T>, RedisError> {
        self.query(&cmd("GET").arg(key)).await
    }

    /// `SET key value`, with an expiry if given.
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn set(
        &self,
        key: &str,
        value: impl ToArg,
        expiry: Option<Duration>,
    ) -> Result<(), RedisError> {
        let mut c = cmd("SET").arg(key).arg(value);
        if let Some(e) = expiry {
            c = c.arg("PX").arg(u64::try_from(e.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        self.query(&c).await
    }

    /// `DEL keys…`: how many existed.
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn del(&self, keys: &[&str]) -> Result<u64, RedisError> {
        let c = keys.iter().fold(cmd("DEL"), |c, k| c.arg(*k));
        self.query(&c).await
    }

    /// `PING`.
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn ping(&self) -> Result<(), RedisError> {
        let pong: String = self.query(&cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RedisError::Type(format!("PING answered {pong:?}")))
        }
    }
}

/// A random factor in `[0.5, 1]`: the jitter of reconnection waits.
fn jitter() -> f64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    0.5 + f64::from(nanos % 1000) / 2000.0
}

/// A new connection with its handshake done.
async fn open(
    config: &ClientConfig,
    pushes: Option<kiln_runtime::sync::mpsc::UnboundedSender<Value>>,
) -> Result<Connection, RedisError> {
    let limit = config.connect_timeout;
    let connecting = async {
        let stream = TcpStream::connect(config.addr.as_str())
            .await
            .map_err(|e| RedisError::Io(format!("connecting to {}: {e}", config.addr)))?;
        let connection = Connection::start(stream, pushes);
        handshake(&connection, config).await?;
        Ok(connection)
    };
    kiln_runtime::time::timeout(limit, connecting).await.unwrap_or(Err(RedisError::Timeout(limit)))
}

/// `HELLO 3 [AUTH user pass]`, or `AUTH` on a RESP2-only server; then `SELECT`.
async fn handshake(connection: &Connection, config: &ClientConfig) -> Result<(), RedisError> {
    let user = config.username.as_deref().unwrap_or("default");
    let mut hello = cmd("HELLO").arg("3");
    if let Some(p) = &config.password {
        hello = hello.arg("AUTH").arg(user).arg(p.as_str());
    }
    let mut bytes = Vec::new();
    hello.encode(&mut bytes);
    let answer = connection.send_encoded(bytes, 1).await?.pop().expect("one answer");
    match answer {
        Ok(_) => {}
        Err(RedisError::Server { kind: ErrorKind::Other(code), .. })
            if code == "ERR" || code == "NOPROTO" =>
        {
            // RESP2 only: authenticate the old way.
            if let Some(p) = &config.password {
                let auth = match &config.username {
                    Some(u) => cmd("AUTH").arg(u.as_str()).arg(p.as_str()),
                    None => cmd("AUTH").arg(p.as_str()),
                };
                let mut bytes = Vec::new();
                auth.encode(&mut bytes);
                connection.send_encoded(bytes, 1).await?.pop().expect("one answer")?;
            }
        }
        Err(e) => return Err(e),
    }
    if config.db != 0 {
        let mut bytes = Vec::new();
        cmd("SELECT").arg(config.db).encode(&mut bytes);
        connection.send_encoded(bytes, 1).await?.pop().expect("one answer")?;
    }
    Ok(())
}

/// A Lua script, run by its SHA-1 (`EVALSHA`) and loaded again if the server lost it
/// (a restart, `SCRIPT FLUSH`).
#[derive(Debug, Clone)]
pub struct Script {
    source: String,
    sha: String,
}

impl Script {
    /// The script `source`.
    pub fn new(source: &str) -> Script {
        use sha1::Digest;
        let digest = sha1::Sha1::digest(source.as_bytes());
        Script { source: source.to_owned(), sha: digest.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// Its SHA-1, as `EVALSHA` names it.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// Runs the script with `keys` and `args`.
    ///
    /// # Errors
    /// As [`Client::query`]; `NOSCRIPT` is handled here (load, then run again).
    pub async fn invoke<T: FromValue>(
        &self,
        client: &Client,
        keys: &[&str],
        args: &[Vec<u8>],
    ) -> Result<T, RedisError> {
        let call = |name: &str, first: &str| {
            let c = cmd(name).arg(first).arg(keys.len());
            let c = keys.iter().fold(c, |c, k| c.arg(*k));
            args.iter().fold(c, |c, a| c.arg(a.clone()))
        };
        match client.query(&call("EVALSHA", &self.sha)).await {
            Err(RedisError::Server { kind: ErrorKind::NoScript, .. }) => {
                let loaded: String =
                    client.query(&cmd("SCRIPT").arg("LOAD").arg(self.source.as_str())).await?;
                debug_assert_eq!(loaded, self.sha);
                client.query(&call("EVALSHA", &self.sha)).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_database_and_credentials() {
        let c = ClientConfig::from_url("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!((c.addr.as_str(), c.db, c.password), ("127.0.0.1:6380", 2, None));
        let c = ClientConfig::from_url("redis://:s3cret@cache").unwrap();
        assert_eq!(
            (c.addr.as_str(), c.password.as_deref(), c.username),
            ("cache:6379", Some("s3cret"), None)
        );
        let c = ClientConfig::from_url("redis://app:pw@h:1/").unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref(), c.db), (Some("app"), Some("pw"), 0));
        assert!(ClientConfig::from_url("http://h").is_err());
        assert!(ClientConfig::from_url("redis://h/x").is_err());
        assert!(ClientConfig::from_url("redis://").is_err());
    }

    #[test]
    fn a_script_is_named_by_the_sha1_of_its_source() {
        assert_eq!(Script::new("return 1").sha(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }
}
