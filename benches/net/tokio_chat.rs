//! The Tokio counterpart of `kiln::app::chat` for the fan-out benchmark: the same architecture
//! (a hub under a mutex, a bounded outbox and a writer task per client, fan-out with
//! `try_send`, lines of at most 1 KiB, history batched into SQLite on the blocking pool), the
//! same line format, written against Tokio. Accounts are off in both servers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type Line = Arc<str>;

struct Message {
    sender: String,
    body: String,
    at_ms: i64,
}

#[derive(Default)]
struct Hub {
    members: HashMap<u64, mpsc::Sender<Line>>,
}

struct Shared {
    hub: Mutex<Hub>,
    history: mpsc::Sender<Message>,
}

/// Binds, opens the database and serves in the background; returns the address.
pub async fn start(db: PathBuf) -> SocketAddr {
    let conn = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, sender TEXT NOT NULL,
             kind TEXT NOT NULL, body TEXT NOT NULL, at_ms INTEGER NOT NULL);",
        )
        .unwrap();
        conn
    })
    .await
    .unwrap();
    let (history, rx) = mpsc::channel(4096);
    tokio::spawn(write_history(Arc::new(Mutex::new(conn)), rx));
    let shared = Arc::new(Shared { hub: Mutex::new(Hub::default()), history });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut next_id = 1;
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(session(stream, next_id, shared.clone()));
            next_id += 1;
        }
    });
    addr
}

async fn session(stream: TcpStream, id: u64, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Line>(2048);
    let writer = tokio::spawn(async move {
        let mut lines = Vec::with_capacity(64);
        let mut buf = Vec::new();
        while rx.recv_many(&mut lines, 64).await > 0 {
            buf.clear();
            for l in lines.drain(..) {
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
            }
            let written =
                tokio::time::timeout(std::time::Duration::from_secs(10), write.write_all(&buf)).await;
            if !matches!(written, Ok(Ok(()))) {
                break;
            }
        }
    });
    let nick = format!("guest{id}");
    let _ = tx.send(Arc::from("* welcome to kiln chat; /help lists the commands")).await;
    let _ = tx.send(Arc::from(format!("* you are {nick}; /nick <name> to change it"))).await;
    {
        let mut hub = shared.hub.lock().unwrap();
        hub.members.insert(id, tx.clone());
        let line: Line = format!("* {nick} joined #lobby").into();
        for m in hub.members.values() {
            let _ = m.try_send(line.clone());
        }
    }
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim();
        if text.len() > 1024 {
            let _ = tx.send(Arc::from("! line too long (max 1024 bytes)")).await;
            continue;
        }
        if text.is_empty() || text.starts_with('/') {
            continue;
        }
        let at_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let secs = at_ms / 1000 % 86_400;
        let rendered: Line =
            format!("[{:02}:{:02}:{:02}] #lobby <{nick}> {text}", secs / 3600, secs % 3600 / 60, secs % 60)
                .into();
        let message = Message { sender: nick.clone(), body: text.to_owned(), at_ms };
        let overflow = {
            let hub = shared.hub.lock().unwrap();
            for m in hub.members.values() {
                let _ = m.try_send(rendered.clone());
            }
            shared.history.try_send(message).err()
        };
        if let Some(mpsc::error::TrySendError::Full(m)) = overflow {
            let _ = shared.history.send(m).await;
        }
    }
    shared.hub.lock().unwrap().members.remove(&id);
    drop(tx);
    let _ = writer.await;
}

async fn write_history(conn: Arc<Mutex<rusqlite::Connection>>, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        let messages = std::mem::take(&mut batch);
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap();
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO messages (room, sender, kind, body, at_ms) VALUES ('lobby', ?1, 'say', ?2, ?3)",
                    )
                    .unwrap();
                for m in &messages {
                    insert.execute(rusqlite::params![m.sender, m.body, m.at_ms]).unwrap();
                }
            }
            tx.commit().unwrap();
        })
        .await
        .unwrap();
    }
}
