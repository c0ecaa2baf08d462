//! The hub: who is connected, who is in which room, and fan-out of lines to them.
//!
//! Each connected client has an [`Outbox`]: a bounded queue of lines that its own writer task
//! drains onto the socket. Publishing a message puts it in every member's outbox with
//! `try_send`, which never waits, so one slow client cannot stall the room. A client whose
//! outbox is full misses that line; the count is kept in its [`OutboxState`], the writer tells
//! the client how many it missed once it catches up, and a client that misses more than
//! `max_missed` is kicked.
//!
//! Fan-out happens under the hub's lock, and so does queueing the message for storage: every
//! member of a room sees that room's messages in the same order, and history stores them in
//! that order too. Nothing under the lock waits: `try_send` either queues or fails at once.

use super::history::History;
use super::protocol::Message;
use kiln_runtime::sync::{mpsc, Notify};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A line for a client, shared by every outbox it is queued in.
pub(crate) type Line = Arc<str>;

/// A client's queue of outgoing lines, as held by the hub and the client's session.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Line>,
    state: Arc<OutboxState>,
}

/// What a client's writer and the hub share besides the queue.
#[derive(Default)]
pub(crate) struct OutboxState {
    /// Lines dropped because the queue was full, not yet reported to the client.
    missed: AtomicU64,
    kicked: AtomicBool,
    kick: Notify,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Line>, Arc<OutboxState>) {
        let (tx, rx) = mpsc::channel(capacity);
        let state = Arc::new(OutboxState::default());
        (Outbox { tx, state: state.clone() }, rx, state)
    }

    /// Queues a reply for this client, waiting if its queue is full: replies go only to the
    /// client that asked, so only that client waits. Returns false if the writer is gone.
    pub(crate) async fn reply(&self, line: impl Into<Line>) -> bool {
        self.tx.send(line.into()).await.is_ok()
    }

    /// Queues a line without waiting; a full queue counts a miss, and too many misses kick.
    fn deliver(&self, line: &Line, max_missed: u64) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(line.clone()) {
            let missed = self.state.missed.fetch_add(1, Ordering::Relaxed) + 1;
            if missed > max_missed {
                self.state.kick();
            }
        }
    }
}

impl OutboxState {
    /// Lines missed since the last call.
    pub(crate) fn take_missed(&self) -> u64 {
        self.missed.swap(0, Ordering::Relaxed)
    }

    /// Marks the client for disconnection and wakes its tasks.
    pub(crate) fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        // `kicked()` creates its `Notified` before checking the flag, so waking the current
        // waiters is enough: a later one sees the flag.
        self.kick.notify_waiters();
    }

    pub(crate) fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    /// Completes once the client has been kicked.
    pub(crate) async fn kicked(&self) {
        loop {
            let notified = self.kick.notified();
            if self.is_kicked() {
                return;
            }
            notified.await;
        }
    }
}

struct Client {
    nick: String,
    room: Option<String>,
    outbox: Outbox,
}

#[derive(Default)]
struct State {
    clients: HashMap<u64, Client>,
    /// Room → its members' outboxes, side by side: fan-out walks this `Vec` and touches
    /// nothing else (no per-member map lookup; measured in the chat fan-out benchmark).
    rooms: BTreeMap<String, Vec<(u64, Outbox)>>,
}

impl State {
    fn nick_taken(&self, nick: &str, except: u64) -> bool {
        self.clients.iter().any(|(&id, c)| id != except && c.nick.eq_ignore_ascii_case(nick))
    }

    fn fan_out(&self, room: &str, line: &Line, max_missed: u64) {
        for (_, outbox) in self.rooms.get(room).into_iter().flatten() {
            outbox.deliver(line, max_missed);
        }
    }
}

/// Everyone connected, by room.
pub(crate) struct Hub {
    state: Mutex<State>,
    history: History,
    max_missed: u64,
}

/// A nickname is already in use by another connected client.
pub(crate) struct NickTaken;

impl Hub {
    pub(crate) fn new(history: History, max_missed: u64) -> Hub {
        Hub { state: Mutex::new(State::default()), history, max_missed }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock panics on client input; if something did, the maps are
        // still consistent (each edit is a single insert or remove).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    /// Adds a client under `nick`, in no room yet.
    pub(crate) fn add(&self, id: u64, nick: &str, outbox: Outbox) -> Result<(), NickTaken> {
        let mut s = self.lock();
        if s.nick_taken(nick, id) {
            return Err(NickTaken);
        }
        s.clients.insert(id, Client { nick: nick.to_owned(), room: None, outbox });
        Ok(())
    }

    /// Renames a client and tells its room. Returns the old nick.
    pub(crate) fn rename(&self, id: u64, nick: &str) -> Result<String, NickTaken> {
        let mut s = self.lock();
        if s.nick_taken(nick, id) {
            return Err(NickTaken);
        }
        let Some(c) = s.clients.get_mut(&id) else { return Err(NickTaken) };
        let old = std::mem::replace(&mut c.nick, nick.to_owned());
        if let Some(room) = c.room.clone() {
            let line: Line = format!("* {old} is now {nick}").into();
            s.fan_out(&room, &line, self.max_missed);
        }
        Ok(old)
    }

    /// Moves a client to `room`, telling the old room and the new one.
    pub(crate) fn join(&self, id: u64, room: &str) {
        let mut s = self.lock();
        let Some(c) = s.clients.get_mut(&id) else { return };
        let (nick, outbox) = (c.nick.clone(), c.outbox.clone());
        let old = c.room.replace(room.to_owned());
        if let Some(old) = old {
            leave_room(&mut s, id, &old, &nick, self.max_missed, true);
        }
        let line: Line = format!("* {nick} joined #{room}").into();
        s.rooms.entry(room.to_owned()).or_default().push((id, outbox));
        s.fan_out(room, &line, self.max_missed);
    }

    /// Removes a client, telling its room unless `quietly` (at shutdown everyone leaves, and
    /// a departure notice would only arrive after the shutdown notice). Its outbox is dropped
    /// here, so once the session drops its own, the writer sees the queue close.
    pub(crate) fn remove(&self, id: u64, quietly: bool) {
        let mut s = self.lock();
        if let Some(c) = s.clients.remove(&id) {
            if let Some(room) = c.room {
                let announce = !quietly;
                leave_room(&mut s, id, &room, &c.nick, self.max_missed, announce);
            }
        }
    }

    /// Nicks in `room`, sorted.
    pub(crate) fn who(&self, room: &str) -> Vec<String> {
        let s = self.lock();
        let mut nicks: Vec<String> = s
            .rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|(id, _)| s.clients.get(id))
            .map(|c| c.nick.clone())
            .collect();
        nicks.sort_by_key(|n| n.to_ascii_lowercase());
        nicks
    }

    /// Sends `message` to its room and queues it for storage, in one order for both.
    pub(crate) async fn publish(&self, message: Message) {
        let line: Line = message.render(false).into();
        let overflow = {
            let s = self.lock();
            s.fan_out(&message.room, &line, self.max_missed);
            self.history.try_record(message).err()
        };
        // Only when storage is thousands of messages behind: wait for room (this sender
        // slows down; nothing is dropped).
        if let Some(message) = overflow {
            self.history.record(message).await;
        }
    }
}

fn leave_room(s: &mut State, id: u64, room: &str, nick: &str, max_missed: u64, announce: bool) {
    if let Some(members) = s.rooms.get_mut(room) {
        if let Some(at) = members.iter().position(|(member, _)| *member == id) {
            members.swap_remove(at);
        }
        if members.is_empty() {
            s.rooms.remove(room);
            return;
        }
    }
    if announce {
        let line: Line = format!("* {nick} left #{room}").into();
        s.fan_out(room, &line, max_missed);
    }
}
