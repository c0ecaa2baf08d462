//! What `kill -9` can lose: nothing that was committed. The chat server runs in a child
//! process (this test binary re-executed, entering `child_chat_server`), takes messages until
//! `/history` shows them (the history writer has committed them), and is then killed with
//! SIGKILL. A new server on the same file must replay every one of them.

use kiln_app::chat::{ChatConfig, ChatServer};
use kiln_net::frame::LineReader;
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DB: &str = "KILN_CHAT_CHILD_DB";
const CHILD_ADDR_FILE: &str = "KILN_CHAT_CHILD_ADDR_FILE";

/// Not a test: the entry point of the child process (run with `--ignored --exact`).
#[test]
#[ignore = "entry point of the server process that kill_9 kills"]
fn child_chat_server() {
    let (Ok(db), Ok(addr_file)) = (std::env::var(CHILD_DB), std::env::var(CHILD_ADDR_FILE)) else {
        panic!("run only by `committed_messages_survive_kill_9` (it sets {CHILD_DB})");
    };
    let rt = kiln_runtime::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async move {
        let config = ChatConfig {
            addr: "127.0.0.1:0".into(),
            db: PathBuf::from(db),
            bcrypt_cost: 4,
            ..ChatConfig::default()
        };
        let server = ChatServer::bind(config).await.unwrap();
        let tmp = format!("{addr_file}.tmp");
        std::fs::write(&tmp, server.local_addr().unwrap().to_string()).unwrap();
        std::fs::rename(tmp, addr_file).unwrap(); // atomic: the parent never reads half an address
        server.run(std::future::pending()).await;
    });
}

async fn expect(lines: &mut LineReader<kiln_net::net::tcp::OwnedReadHalf>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = kiln_runtime::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 10 s; saw {seen:#?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("closed before {needle:?}; saw {seen:#?}"));
        let done = line.contains(needle);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

#[test]
fn committed_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.db");
    let addr_file = dir.path().join("addr");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_chat_server", "--nocapture"])
        .env(CHILD_DB, &db)
        .env(CHILD_ADDR_FILE, &addr_file)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server process exited early: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server process did not start in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };

    let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (r, mut w) = TcpStream::connect(addr.as_str()).await.unwrap().into_split();
        let mut lines = LineReader::new(r, 64 * 1024);
        w.write_all(b"/register alice password-alice\n").await.unwrap();
        expect(&mut lines, "history").await;
        for n in 0..20 {
            w.write_all(format!("survivor {n}\n").as_bytes()).await.unwrap();
        }
        // `/history` waits for the writer: once it shows message 19, all 20 are committed.
        w.write_all(b"/history 20\n").await.unwrap();
        let replay = expect(&mut lines, "* end of history").await;
        assert!(replay.iter().any(|l| l.ends_with("survivor 19")), "{replay:#?}");
    });
    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().unwrap();

    rt.block_on(async {
        let config = ChatConfig {
            addr: "127.0.0.1:0".into(),
            db: db.clone(),
            bcrypt_cost: 4,
            history_on_join: 20,
            ..ChatConfig::default()
        };
        let server = ChatServer::bind(config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = kiln_runtime::sync::oneshot::channel::<()>();
        let serving = kiln_runtime::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut lines = LineReader::new(r, 64 * 1024);
        w.write_all(b"/login alice password-alice\n").await.unwrap();
        let replay = expect(&mut lines, "* end of history").await;
        let survivors: Vec<_> = replay.iter().filter(|l| l.contains("<alice> survivor")).collect();
        assert_eq!(survivors.len(), 20, "every committed message survived kill -9: {replay:#?}");
        stop.send(()).unwrap();
        serving.await.unwrap();
    });
}
