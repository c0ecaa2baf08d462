//! One client connection: a reader that runs commands, and a writer that drains the client's
//! outbox onto the socket.
//!
//! The two halves run as two tasks so that a client that stops reading only ever blocks its
//! own writer: the session keeps reading its commands, and everyone else's messages keep
//! flowing. The writer puts each write under `write_timeout` and stops on a kick; the reader
//! waits for the next line under `idle_timeout`, the server's shutdown signal and the kick, in
//! one `select!`. Both `LineReader::next_line` and `Notified` are cancel-safe, which is what
//! makes that `select!` correct: whichever branch loses, nothing is lost.

use super::hub::{Line, Outbox, OutboxState};
use super::protocol::{self, Command, Kind, Message};
use super::Shared;
use kiln_net::frame::LineReader;
use kiln_net::io::AsyncWriteExt;
use kiln_net::net::tcp::OwnedWriteHalf;
use kiln_net::net::TcpStream;
use kiln_net::shutdown::ShutdownListener;
use kiln_runtime::sync::mpsc;
use kiln_runtime::time::timeout;
use std::sync::Arc;

/// Lines the writer takes from the queue for one socket write.
const WRITE_BATCH: usize = 64;

/// What a command asks of the connection.
enum Flow {
    Continue,
    Close,
}

struct Session {
    id: u64,
    shared: Arc<Shared>,
    outbox: Outbox,
    /// The account, once logged in (always `None` with authentication off).
    user: Option<String>,
    /// The name others see; `None` until logged in.
    nick: Option<String>,
    room: Option<String>,
    failed_logins: u32,
}

/// Serves one connection until the client leaves, idles out, is kicked, or the server shuts
/// down. Returns once the writer has sent what was queued (or timed out).
pub(crate) async fn run(stream: TcpStream, id: u64, shared: Arc<Shared>, mut shutdown: ShutdownListener) {
    let config = &shared.config;
    let (read, write) = stream.into_split();
    let (outbox, rx, state) = Outbox::new(config.client_queue);
    let writer = kiln_runtime::spawn(write_loop(rx, write, state.clone(), config.write_timeout));
    let mut session =
        Session { id, shared: shared.clone(), outbox, user: None, nick: None, room: None, failed_logins: 0 };
    session.greet().await;

    let mut lines = LineReader::new(read, config.max_line);
    let idle = config.idle_timeout;
    loop {
        let flow = kiln_runtime::select! {
            biased;
            () = shutdown.recv() => {
                session.reply("* server is shutting down, bye").await;
                Flow::Close
            }
            () = state.kicked() => Flow::Close,
            read = timeout(idle, lines.next_line()) => match read {
                Err(_) => {
                    session.reply(format!("* idle for {}, bye", human(idle))).await;
                    Flow::Close
                }
                Ok(Ok(None)) => Flow::Close,
                Ok(Err(e)) if e.is_recoverable() => {
                    session.reply(format!("! {e}")).await;
                    Flow::Continue
                }
                Ok(Err(_)) => Flow::Close,
                Ok(Ok(Some(line))) => session.handle(&line).await,
            },
        };
        if let Flow::Close = flow {
            break;
        }
    }
    shared.hub.remove(id, shutdown.is_triggered());
    drop(session); // the last sender of the outbox: the writer drains it and stops
    let _ = timeout(config.write_timeout, writer).await;
}

/// Moves queued lines to the socket, a batch per write, telling the client how many lines it
/// missed while it was behind.
async fn write_loop(
    mut rx: mpsc::Receiver<Line>,
    mut write: OwnedWriteHalf,
    state: Arc<OutboxState>,
    write_timeout: std::time::Duration,
) {
    let mut lines = Vec::with_capacity(WRITE_BATCH);
    let mut buf = Vec::new();
    loop {
        let n = kiln_runtime::select! {
            biased;
            () = state.kicked() => 0,
            n = rx.recv_many(&mut lines, WRITE_BATCH) => n,
        };
        if n == 0 {
            break;
        }
        buf.clear();
        let missed = state.take_missed();
        if missed > 0 {
            buf.extend_from_slice(
                format!("* you missed {missed} messages while your connection was behind\n").as_bytes(),
            );
        }
        for line in lines.drain(..) {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let written = kiln_runtime::select! {
            biased;
            () = state.kicked() => false,
            r = timeout(write_timeout, write.write_all(&buf)) => matches!(r, Ok(Ok(()))),
        };
        if !written {
            // A client that cannot take a write within the timeout is gone for our purposes.
            state.kick();
            break;
        }
    }
    if state.is_kicked() {
        // Best effort: the client may not be reading at all.
        let _ = write.try_write(b"! disconnected: your connection fell too far behind\n");
    }
}

/// `300s`, or `250ms` below a second.
fn human(d: std::time::Duration) -> String {
    if d.as_secs() >= 1 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Session {
    async fn reply(&self, line: impl Into<Line>) {
        self.outbox.reply(line).await;
    }

    async fn greet(&mut self) {
        self.reply("* welcome to kiln chat; /help lists the commands").await;
        if self.shared.config.require_auth {
            self.reply("* log in with /login <name> <password>, or create an account with /register <name> <password>")
                .await;
            return;
        }
        // Authentication off: everyone is a guest with a generated name, in the default room.
        let mut nick = format!("guest{}", self.id);
        while self.shared.hub.add(self.id, &nick, self.outbox.clone()).is_err() {
            nick.push('_');
        }
        self.reply(format!("* you are {nick}; /nick <name> to change it")).await;
        self.nick = Some(nick);
        let room = self.shared.config.default_room.clone();
        self.enter(&room).await;
    }

    async fn handle(&mut self, line: &str) -> Flow {
        let command = match protocol::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.reply(format!("! {e}")).await;
                return Flow::Continue;
            }
        };
        let allowed_anonymous = matches!(
            command,
            Command::Help | Command::Quit | Command::Register { .. } | Command::Login { .. }
        );
        if self.nick.is_none() && !allowed_anonymous {
            self.reply("! log in first: /login <name> <password> or /register <name> <password>").await;
            return Flow::Continue;
        }
        match command {
            Command::Help => {
                for line in protocol::HELP {
                    self.reply(format!("* {line}")).await;
                }
            }
            Command::Quit => {
                self.reply("* bye").await;
                return Flow::Close;
            }
            Command::Register { name, password } => return self.register(name, password).await,
            Command::Login { name, password } => return self.login(name, password).await,
            Command::Nick(nick) => self.change_nick(nick).await,
            Command::Who => {
                let room = self.room.clone().unwrap_or_default();
                let nicks = self.shared.hub.who(&room);
                self.reply(format!("* in #{room} ({}): {}", nicks.len(), nicks.join(", "))).await;
            }
            Command::Join(room) => match protocol::normalize_room(&room) {
                Ok(room) if self.room.as_deref() == Some(room.as_str()) => {
                    self.reply(format!("* you are already in #{room}")).await;
                }
                Ok(room) => self.enter(&room).await,
                Err(e) => self.reply(format!("! {e}")).await,
            },
            Command::History(n) => {
                let room = self.room.clone().unwrap_or_default();
                self.replay(&room, n.unwrap_or(20)).await;
            }
            Command::Say(text) => self.publish(Kind::Say, text).await,
            Command::Me(text) => self.publish(Kind::Me, text).await,
        }
        Flow::Continue
    }

    async fn publish(&self, kind: Kind, body: String) {
        let (Some(nick), Some(room)) = (&self.nick, &self.room) else { return };
        let message =
            Message { room: room.clone(), sender: nick.clone(), kind, body, at_ms: protocol::now_ms() };
        self.shared.hub.publish(message).await;
    }

    /// Joins `room` and replays its recent history to this client.
    async fn enter(&mut self, room: &str) {
        self.shared.hub.join(self.id, room);
        self.room = Some(room.to_owned());
        self.replay(room, self.shared.config.history_on_join).await;
    }

    async fn replay(&self, room: &str, n: usize) {
        if n == 0 {
            return;
        }
        self.shared.hub.history().sync().await;
        match self.shared.store.recent(room, n).await {
            Ok(messages) if messages.is_empty() => self.reply(format!("* no history in #{room} yet")).await,
            Ok(messages) => {
                self.reply(format!("* last {} messages in #{room}:", messages.len())).await;
                for m in messages {
                    self.reply(m.render(true)).await;
                }
                self.reply("* end of history").await;
            }
            Err(e) => {
                eprintln!("chat: history of #{room}: {e}");
                self.reply("! history is unavailable right now").await;
            }
        }
    }

    /// Whether `/register` and `/login` make sense now; says why not if they do not.
    async fn may_log_in(&self) -> bool {
        if !self.shared.config.require_auth {
            self.reply("! accounts are off on this server; use /nick <name>").await;
            return false;
        }
        if self.user.is_some() {
            self.reply("! you are already logged in").await;
            return false;
        }
        true
    }

    async fn register(&mut self, name: String, password: String) -> Flow {
        if !self.may_log_in().await {
            return Flow::Continue;
        }
        if let Err(e) = protocol::check_nick(&name).and_then(|()| protocol::check_password(&password)) {
            self.reply(format!("! {e}")).await;
            return Flow::Continue;
        }
        let cost = self.shared.config.bcrypt_cost;
        let hash = match kiln_runtime::task::spawn_blocking(move || bcrypt::hash(password, cost)).await {
            Ok(Ok(h)) => h,
            _ => {
                self.reply("! could not create the account, try again").await;
                return Flow::Continue;
            }
        };
        match self.shared.store.create_user(&name, hash).await {
            Ok(true) => self.logged_in(name).await,
            Ok(false) => {
                self.reply("! that name is taken").await;
                Flow::Continue
            }
            Err(e) => {
                eprintln!("chat: register: {e}");
                self.reply("! could not create the account, try again").await;
                Flow::Continue
            }
        }
    }

    async fn login(&mut self, name: String, password: String) -> Flow {
        if !self.may_log_in().await {
            return Flow::Continue;
        }
        let account = match self.shared.store.user(&name).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("chat: login: {e}");
                self.reply("! could not log in right now, try again").await;
                return Flow::Continue;
            }
        };
        // An unknown name is checked against a dummy hash, so it takes as long as a wrong
        // password and the reply cannot tell the two apart.
        let (stored_name, hash) = match account {
            Some((n, h)) => (Some(n), h),
            None => (None, self.shared.dummy_hash.clone()),
        };
        let ok = kiln_runtime::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        match (ok, stored_name) {
            (true, Some(name)) => self.logged_in(name).await,
            _ => {
                self.failed_logins += 1;
                if self.failed_logins >= self.shared.config.max_login_attempts {
                    self.reply("! invalid name or password; too many attempts, bye").await;
                    return Flow::Close;
                }
                self.reply("! invalid name or password").await;
                Flow::Continue
            }
        }
    }

    async fn logged_in(&mut self, name: String) -> Flow {
        if self.shared.hub.add(self.id, &name, self.outbox.clone()).is_err() {
            self.reply(format!("! {name} is already connected")).await;
            return Flow::Continue;
        }
        self.reply(format!("* logged in as {name}")).await;
        self.user = Some(name.clone());
        self.nick = Some(name);
        let room = self.shared.config.default_room.clone();
        self.enter(&room).await;
        Flow::Continue
    }

    async fn change_nick(&mut self, nick: String) {
        if let Err(e) = protocol::check_nick(&nick) {
            self.reply(format!("! {e}")).await;
            return;
        }
        if self.shared.config.require_auth {
            // A nick may not impersonate another account.
            match self.shared.store.user(&nick).await {
                Ok(Some((owner, _))) if Some(&owner) != self.user.as_ref() => {
                    self.reply("! that name belongs to another account").await;
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("chat: nick: {e}");
                    self.reply("! could not change your name right now").await;
                    return;
                }
            }
        }
        match self.shared.hub.rename(self.id, &nick) {
            Ok(_) => {
                self.reply(format!("* you are now {nick}")).await;
                self.nick = Some(nick);
            }
            Err(_) => self.reply("! that name is in use").await,
        }
    }
}
