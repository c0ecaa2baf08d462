//! The chat server over real loopback sockets and a real SQLite file: accounts, rooms,
//! ordering, history across restarts, slow clients, limits, and graceful shutdown.

use kiln_app::chat::{ChatConfig, ChatServer, ChatSummary};
use kiln_net::frame::LineReader;
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use kiln_net::net::{TcpSocket, TcpStream};
use kiln_runtime::sync::oneshot;
use kiln_runtime::task::JoinHandle;
use kiln_runtime::time::timeout;
use kiln_test_support::on_each;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long a test waits for an expected line before failing.
const WAIT: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<ChatSummary>,
}

impl Server {
    async fn start(config: ChatConfig) -> Server {
        let server = ChatServer::bind(ChatConfig { addr: "127.0.0.1:0".into(), ..config }).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = kiln_runtime::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Server { addr, stop, task }
    }

    async fn shutdown(self) -> ChatSummary {
        self.stop.send(()).unwrap();
        self.task.await.unwrap()
    }
}

fn config(db: &Path) -> ChatConfig {
    ChatConfig { db: db.to_owned(), bcrypt_cost: 4, ..ChatConfig::default() }
}

struct Client {
    lines: LineReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    /// Everything received, for failure messages.
    seen: Vec<String>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    fn from_stream(stream: TcpStream) -> Client {
        let (r, write) = stream.into_split();
        Client { lines: LineReader::new(r, 64 * 1024), write, seen: Vec::new() }
    }

    async fn send(&mut self, line: &str) {
        self.write.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// The next line, or `None` at EOF.
    async fn next(&mut self) -> Option<String> {
        match timeout(WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(l))) => {
                self.seen.push(l.clone());
                Some(l)
            }
            Ok(_) => None,
            Err(_) => {
                panic!("no line within {WAIT:?}; {} lines so far, ending {:#?}", self.seen.len(), self.tail())
            }
        }
    }

    /// Reads until a line containing `needle`; returns it.
    async fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.next().await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!("connection closed before {needle:?}; got {:#?}", self.tail()),
            }
        }
    }

    /// The last few lines received, shortened, for failure messages.
    fn tail(&self) -> Vec<String> {
        self.seen.iter().rev().take(6).rev().map(|l| l.chars().take(90).collect()).collect()
    }

    /// Reads until EOF; returns the lines.
    async fn until_closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(l) = self.next().await {
            rest.push(l);
        }
        rest
    }

    async fn register(addr: SocketAddr, name: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.send(&format!("/register {name} password-{name}")).await;
        c.expect(&format!("* logged in as {name}")).await;
        c.expect("history").await; // the lobby's replay (or "no history") ends the join
        c
    }
}

#[test]
fn register_login_and_failures_that_do_not_say_which_half_was_wrong() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let server =
            Server::start(ChatConfig { max_login_attempts: 3, ..config(&dir.path().join("chat.db")) }).await;
        let mut alice = Client::connect(server.addr).await;
        alice.expect("welcome").await;
        alice.send("hello before login").await;
        alice.expect("! log in first").await;
        alice.send("/help").await;
        alice.expect("/register <name> <password>").await;
        alice.send("/register alice short").await;
        alice.expect("! a password has 8 to 72 bytes").await;
        alice.send("/register al!ce longenough").await;
        alice.expect("! a name may use only").await;
        alice.send("/register alice correct-horse").await;
        alice.expect("* logged in as alice").await;
        alice.send("/quit").await;
        alice.expect("* bye").await;
        assert!(alice.until_closed().await.is_empty());

        let mut again = Client::connect(server.addr).await;
        again.send("/register ALICE other-password").await;
        again.expect("! that name is taken").await; // names ignore case
        again.send("/login alice wrong-password").await;
        let wrong_password = again.expect("!").await;
        again.send("/login nobody wrong-password").await;
        let unknown_user = again.expect("!").await;
        assert_eq!(wrong_password, "! invalid name or password");
        assert_eq!(unknown_user, wrong_password, "the reply does not reveal whether the name exists");
        again.send("/login alice wrong-again").await;
        again.expect("too many attempts").await;
        again.until_closed().await;

        let mut ok = Client::connect(server.addr).await;
        ok.send("/login Alice correct-horse").await;
        ok.expect("* logged in as alice").await;
        server.shutdown().await;
    });
}

#[test]
fn every_client_sees_every_message_in_the_same_order() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(config(&dir.path().join("chat.db"))).await;
        let mut clients = Vec::new();
        for i in 0..5 {
            clients.push(Client::register(server.addr, &format!("user{i}")).await);
        }
        // Wait until each client has seen everyone join, so nobody misses early messages.
        for c in &mut clients[..4] {
            c.expect("user4 joined #lobby").await;
        }
        let (mut writers, mut readers) = (Vec::new(), Vec::new());
        for (i, mut c) in clients.into_iter().enumerate() {
            writers.push(kiln_runtime::spawn(async move {
                for n in 0..20 {
                    c.send(&format!("msg {n} from user{i}")).await;
                }
                c
            }));
        }
        for w in writers {
            readers.push(w.await.unwrap());
        }
        let mut orders = Vec::new();
        for c in &mut readers {
            let mut got = Vec::new();
            while got.len() < 100 {
                let line = c.next().await.expect("open");
                if let Some(at) = line.find("<user") {
                    got.push(line[at..].to_owned());
                }
            }
            orders.push(got);
        }
        for i in 0..5 {
            let mine: Vec<_> =
                orders[0].iter().filter(|l| l.starts_with(&format!("<user{i}>"))).cloned().collect();
            let expected: Vec<_> = (0..20).map(|n| format!("<user{i}> msg {n} from user{i}")).collect();
            assert_eq!(mine, expected, "each sender's messages arrive in the order sent");
        }
        for o in &orders[1..] {
            assert_eq!(o, &orders[0], "all clients see one order");
        }
        server.shutdown().await;
    });
}

#[test]
fn rooms_isolate_and_who_lists_members() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(config(&dir.path().join("chat.db"))).await;
        let mut alice = Client::register(server.addr, "alice").await;
        let mut bob = Client::register(server.addr, "bob").await;
        alice.expect("bob joined #lobby").await;
        alice.send("/join #Rust").await;
        alice.expect("* alice joined #rust").await;
        bob.expect("* alice left #lobby").await;
        alice.send("only for rust").await;
        alice.expect("#rust <alice> only for rust").await;
        bob.send("only for the lobby").await;
        bob.expect("#lobby <bob> only for the lobby").await;
        alice.send("/who").await;
        assert_eq!(alice.expect("* in #rust").await, "* in #rust (1): alice");
        bob.send("/who").await;
        assert_eq!(bob.expect("* in #lobby").await, "* in #lobby (1): bob");
        alice.send("/me waves").await;
        alice.expect("#rust * alice waves").await;
        // Nothing from #rust reached bob, and nothing from the lobby reached alice.
        assert!(!bob.seen.iter().any(|l| l.contains("only for rust") || l.contains("waves")));
        assert!(!alice.seen.iter().any(|l| l.contains("only for the lobby")));
        alice.send("/join bad/room").await;
        alice.expect("! a room name may use only").await;
        alice.send("/nick bob").await;
        alice.expect("! that name belongs to another account").await;
        alice.send("/nick alice_2").await;
        alice.expect("* you are now alice_2").await;
        server.shutdown().await;
    });
}

#[test]
fn history_is_replayed_on_join_and_survives_a_restart() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let server = Server::start(config(&db)).await;
        let mut alice = Client::register(server.addr, "alice").await;
        for n in 0..30 {
            alice.send(&format!("persisted {n}")).await;
        }
        alice.expect("persisted 29").await;
        let summary = server.shutdown().await;
        assert_eq!(summary.stored, 30);

        let server = Server::start(ChatConfig { history_on_join: 5, ..config(&db) }).await;
        let mut back = Client::connect(server.addr).await;
        back.send("/login alice password-alice").await;
        back.expect("* last 5 messages in #lobby:").await;
        for n in 25..30 {
            let line = back.next().await.unwrap();
            assert!(line.ends_with(&format!("#lobby <alice> persisted {n}")), "{line}");
            assert!(line.starts_with("[20"), "history lines carry the date: {line}");
        }
        back.expect("* end of history").await;
        back.send("/history 2").await;
        back.expect("* last 2 messages").await;
        assert!(back.next().await.unwrap().ends_with("persisted 28"));
        back.send("/history 0").await;
        back.expect("! usage: /history [n]").await;
        server.shutdown().await;
    });
}

#[test]
fn a_client_that_never_reads_does_not_slow_the_others_and_is_dropped() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ChatConfig {
            require_auth: false,
            client_queue: 64,
            socket_send_buffer: Some(16 * 1024),
            max_missed: 200,
            history_on_join: 0,
            ..config(&dir.path().join("chat.db"))
        };
        let server = Server::start(cfg).await;
        // The stuck client: a tiny receive buffer, and it never reads.
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stuck_stream = socket.connect(server.addr).await.unwrap();
        let mut fast = Client::connect(server.addr).await;
        fast.expect("you are guest").await;
        let mut sender = Client::connect(server.addr).await;
        sender.expect("you are guest").await;
        let body = "x".repeat(900);
        let total = 2048;
        // "Fast" means reading as fast as the sender sends: the sender sends bursts of 32 and
        // waits until the fast client (and its own connection) has seen each burst, so a fast
        // client never has more than a burst queued. The stuck client is not waited for.
        let (seen_burst, mut burst_seen) = kiln_runtime::sync::mpsc::channel::<()>(1);
        let send = kiln_runtime::spawn(async move {
            for burst in 0..total / 32 {
                for n in burst * 32..(burst + 1) * 32 {
                    sender.send(&format!("{n} {body}")).await;
                }
                sender.expect(&format!("> {} x", (burst + 1) * 32 - 1)).await;
                burst_seen.recv().await.unwrap();
            }
            sender
        });
        let mut received = 0;
        let mut next_expected = 0;
        while received < total {
            let line = fast.next().await.expect("the fast client stays connected");
            if let Some(rest) = line.split_once("> ").map(|(_, r)| r) {
                let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
                assert_eq!(n, next_expected, "the fast client misses nothing and sees order");
                next_expected += 1;
                received += 1;
                if received % 32 == 0 {
                    seen_burst.send(()).await.unwrap();
                }
            }
        }
        let _sender = send.await.unwrap();
        // The stuck client fell more than max_missed behind: the server closed it.
        let mut stuck = Client::from_stream(stuck_stream);
        let lines = stuck.until_closed().await;
        let messages = lines.iter().filter(|l| l.contains("> ")).count();
        assert!(messages < total, "the stuck client got {messages} of {total}: it was cut off");
        server.shutdown().await;
    });
}

#[test]
fn limits_oversized_lines_idle_timeout_and_server_full() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ChatConfig {
            require_auth: false,
            max_line: 64,
            idle_timeout: Duration::from_millis(300),
            max_clients: 2,
            ..config(&dir.path().join("chat.db"))
        };
        let server = Server::start(cfg).await;
        let mut a = Client::connect(server.addr).await;
        a.expect("you are guest").await;
        a.send(&"y".repeat(200)).await;
        a.expect("! line too long (max 64 bytes)").await;
        a.send("still connected").await;
        a.expect("<guest").await;
        let mut b = Client::connect(server.addr).await;
        b.expect("welcome").await;
        let mut c = Client::connect(server.addr).await;
        assert_eq!(c.next().await.as_deref(), Some("! server full, try again later"));
        assert!(c.until_closed().await.is_empty());
        // `a` and `b` stay silent: both are closed after the idle timeout.
        a.expect("* idle for 300ms, bye").await;
        assert!(a.until_closed().await.is_empty());
        b.expect("* idle for 300ms, bye").await;
        server.shutdown().await;
    });
}

#[test]
fn shutdown_notifies_every_client_and_stores_every_message() {
    on_each(|| async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("chat.db");
        let server = Server::start(config(&db)).await;
        let mut alice = Client::register(server.addr, "alice").await;
        let mut bob = Client::register(server.addr, "bob").await;
        let mut anon = Client::connect(server.addr).await;
        anon.expect("welcome").await;
        for n in 0..10 {
            alice.send(&format!("before shutdown {n}")).await;
        }
        bob.expect("before shutdown 9").await;
        let summary = server.shutdown().await;
        for c in [&mut alice, &mut bob, &mut anon] {
            c.expect("* server is shutting down, bye").await;
            assert!(c.until_closed().await.is_empty());
        }
        assert_eq!(summary.stored, 10);
        assert_eq!(summary.forced, 0);
        let store = kiln_app::chat::Store::open(&db).await.unwrap();
        assert_eq!(store.count("lobby").await.unwrap(), 10);
    });
}
