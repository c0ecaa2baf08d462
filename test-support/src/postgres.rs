//! A private PostgreSQL cluster for a test: `initdb` into a temporary directory, `pg_ctl
//! start` on a free loopback port, password authentication by SCRAM-SHA-256, stopped and
//! deleted when dropped (and by a watchdog process if the test process exits without
//! dropping it). PostgreSQL refuses to run as root, so when the tests run as root
//! the cluster is made and run as the `postgres` system user (Debian's package creates it).
//! A machine without PostgreSQL fails the test and says how to install it (the test
//! command does).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser every test cluster has, and its password.
pub const USER: &str = "kiln";
/// [`USER`]'s password.
pub const PASSWORD: &str = "kiln-test-password";

/// A running cluster.
pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

/// The directory of `initdb` and `pg_ctl`: Debian keeps them out of `PATH`, under
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists());
    versions.sort();
    if let Some(newest) = versions.pop() {
        return newest;
    }
    let on_path = Command::new("sh").args(["-c", "command -v initdb"]).output().ok();
    match on_path.filter(|o| o.status.success()) {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).parent().unwrap().to_path_buf(),
        None => panic!(
            "PostgreSQL's initdb is not installed: install Debian's postgresql (scripts/test-all does) to run this test"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PostgresServer {
    /// Makes and starts a cluster; its database `postgres` belongs to [`USER`].
    pub fn start() -> PostgresServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("kiln-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = PostgresServer { dir, port, bin: bin_dir(), as_postgres: is_root(), running: false };
        let pwfile = server.dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if server.as_postgres {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(&server.dir).status().unwrap();
            assert!(status.success(), "cannot give {} to the postgres user", server.dir.display());
        }
        let data = server.dir.join("data");
        let init = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        server.spawn();
        server.watch();
        server
    }

    /// Starts a watchdog process that stops the cluster and deletes its directory once this
    /// process has exited — also when it never drops the server (a static, an abort).
    fn watch(&self) {
        let stop =
            format!("{} -D '{}' -m immediate stop", self.bin.join("pg_ctl").display(), self.data().display());
        let stop = if self.as_postgres { format!("runuser -u postgres -- {stop}") } else { stop };
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{}'",
            std::process::id(),
            self.dir.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// A command run as the postgres user when this process is root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.stdin(Stdio::null());
        command
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn spawn(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "30", "-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not listen on port {} within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `postgres://kiln:…@127.0.0.1:port/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: no goodbye to its clients).
    pub fn kill(&mut self) {
        if self.running {
            let _ =
                self.command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]).output();
            self.running = false;
        }
    }

    /// Starts it again on the same port, with its data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Where the cluster lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
