//! A private `redis-server` for a test: on a free loopback port, in a temporary directory,
//! without persistence (or with an append-only file synced on every write, for a test that
//! restarts it and expects its data back), stopped when dropped. A machine without `redis-server` fails the
//! test and says how to install it (the test command does).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    durable: bool,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts one with no password.
    pub fn start() -> RedisServer {
        RedisServer::start_with(None)
    }

    /// Starts one that requires `password`, if given.
    pub fn start_with(password: Option<&str>) -> RedisServer {
        RedisServer::launch(password, false)
    }

    /// Starts one that keeps its data across [`RedisServer::restart`] (`appendonly yes`,
    /// `appendfsync always`).
    pub fn start_durable() -> RedisServer {
        RedisServer::launch(None, true)
    }

    fn launch(password: Option<&str>, durable: bool) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("kiln-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server =
            RedisServer { child: None, port, password: password.map(str::to_owned), durable, dir };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                if self.durable { "yes" } else { "no" },
                "--appendfsync",
                "always",
                // DEBUG SLEEP: a slow answer on demand.
                "--enable-debug-command",
                "local",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = &self.password {
            command.args(["--requirepass", p]);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): install Debian's redis-server (scripts/test-all does) to run this test")
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `redis://…` for clients.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (its data is gone unless it is durable).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
