//! One connection to PostgreSQL: the startup and authentication, then a socket shared by
//! any number of requests, pipelined.
//!
//! **Startup** is a short conversation before anything else: the startup message (user,
//! database, settings), the server's choice of authentication — SCRAM-SHA-256 (the
//! default since PostgreSQL 14), md5, or a cleartext password — the backend's key for
//! cancel requests, and the first `ReadyForQuery`.
//!
//! **Then a pipe.** Every request the client sends ends with exactly one `Sync`, and the
//! server answers each `Sync` with exactly one `ReadyForQuery`, in order. So, as in the
//! Redis client, a writer task records each request in a FIFO before writing it, and a
//! reader task gives every message it reads to the request at the front, which is complete
//! at its `ReadyForQuery`. An error inside one request makes the server skip to that
//! request's `Sync`, so it cannot spill into the next. `NotificationResponse` (LISTEN) and
//! `NoticeResponse` arrive between requests and belong to none: notifications go to the
//! connection's listener, notices to the log.
//!
//! The reader takes a request off the FIFO at the first message of its answer and gathers
//! the rest without the lock. A caller that stops waiting leaves its entry; the answer is
//! read and dropped. When the
//! socket fails every waiting request gets the error and the connection reports itself
//! closed.

use crate::config::Config;
use crate::error::{db_error, PgError};
use bytes::BytesMut;
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpStream;
use kiln_runtime::sync::{mpsc, oneshot};
use postgres_protocol::message::{backend::Message, frontend};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A `NOTIFY` received on a listening connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process id.
    pub process_id: i32,
    /// The channel.
    pub channel: String,
    /// The payload (empty if none was given).
    pub payload: String,
}

/// What a request was answered with: every message up to and including `ReadyForQuery`.
pub(crate) type Answer = Vec<Message>;

struct Request {
    bytes: BytesMut,
    respond: Option<oneshot::Sender<Result<Answer, PgError>>>,
}

struct Pending {
    messages: Answer,
    respond: Option<oneshot::Sender<Result<Answer, PgError>>>,
}

struct Shared {
    pending: Mutex<VecDeque<Pending>>,
    closed: AtomicBool,
    /// Requests sent (queued or written) and not yet answered.
    outstanding: AtomicUsize,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail_all(&self, error: &PgError) {
        self.closed.store(true, Ordering::SeqCst);
        for p in self.pending().drain(..) {
            if let Some(respond) = p.respond {
                let _ = respond.send(Err(error.clone()));
            }
        }
    }
}

/// The server's key for cancelling this connection's running statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CancelKey {
    pub(crate) process_id: i32,
    pub(crate) secret_key: i32,
}

/// A started connection; clone it to share it.
#[derive(Clone)]
pub(crate) struct Connection {
    requests: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
    pub(crate) cancel: Option<CancelKey>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

fn io(e: std::io::Error) -> PgError {
    PgError::Io(e.to_string())
}

/// Reads one whole backend message during startup.
async fn next_message(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Message, PgError> {
    loop {
        if let Some(message) = Message::parse(buf).map_err(|e| PgError::Protocol(e.to_string()))? {
            return Ok(message);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await.map_err(io)? {
            0 => return Err(PgError::Io("the server closed the connection during startup".into())),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Connects, authenticates and starts the reader and writer. Notifications go to
/// `notifications` if given.
pub(crate) async fn connect(
    config: &Config,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
) -> Result<Connection, PgError> {
    let limit = config.connect_timeout;
    let started = async {
        let mut stream = TcpStream::connect(config.addr.as_str())
            .await
            .map_err(|e| PgError::Io(format!("connecting to {}: {e}", config.addr)))?;
        let _ = stream.set_nodelay(true);
        let mut out = BytesMut::new();
        let timeout = config.statement_timeout.map(|t| format!("-c statement_timeout={}", t.as_millis()));
        let mut params = vec![
            ("user", config.user.as_str()),
            ("database", config.database.as_str()),
            ("application_name", config.application_name.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(t) = &timeout {
            params.push(("options", t.as_str()));
        }
        frontend::startup_message(params, &mut out).map_err(io)?;
        stream.write_all(&out).await.map_err(io)?;
        let mut buf = BytesMut::new();
        let mut cancel = None;
        let mut scram = None;
        loop {
            out.clear();
            match next_message(&mut stream, &mut buf).await? {
                Message::AuthenticationOk | Message::ParameterStatus(_) | Message::NoticeResponse(_) => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password(config)?.as_bytes(), &mut out).map_err(io)?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        config.user.as_bytes(),
                        password(config)?.as_bytes(),
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut out).map_err(io)?;
                }
                Message::AuthenticationSasl(body) => {
                    use fallible_iterator::FallibleIterator;
                    let mut mechanisms = body.mechanisms();
                    let mut scram_offered = false;
                    while let Some(m) = mechanisms.next().map_err(io)? {
                        scram_offered |= m == "SCRAM-SHA-256";
                    }
                    if !scram_offered {
                        return Err(PgError::Auth(
                            "the server offers no SASL mechanism this client speaks".into(),
                        ));
                    }
                    let s = postgres_protocol::authentication::sasl::ScramSha256::new(
                        password(config)?.as_bytes(),
                        postgres_protocol::authentication::sasl::ChannelBinding::unsupported(),
                    );
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut out).map_err(io)?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| PgError::Protocol("SASL continue before start".into()))?;
                    s.update(body.data()).map_err(|e| PgError::Auth(format!("SCRAM: {e}")))?;
                    frontend::sasl_response(s.message(), &mut out).map_err(io)?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s =
                        scram.as_mut().ok_or_else(|| PgError::Protocol("SASL final before start".into()))?;
                    // Proves the server knew the password too, not only that we did.
                    s.finish(body.data())
                        .map_err(|e| PgError::Auth(format!("SCRAM: the server's proof: {e}")))?;
                }
                Message::BackendKeyData(key) => {
                    cancel = Some(CancelKey { process_id: key.process_id(), secret_key: key.secret_key() });
                }
                Message::ReadyForQuery(_) => break,
                Message::ErrorResponse(body) => {
                    let e = db_error(&mut body.fields());
                    return Err(if e.code.starts_with("28") {
                        PgError::Auth(format!("{} ({})", e.message, e.code))
                    } else {
                        e.into()
                    });
                }
                _ => return Err(PgError::Protocol("an unexpected message during startup".into())),
            }
            if !out.is_empty() {
                stream.write_all(&out).await.map_err(io)?;
            }
        }
        Ok(Connection::start(stream, buf, cancel, notifications))
    };
    kiln_runtime::time::timeout(limit, started).await.unwrap_or(Err(PgError::Timeout(limit)))
}

fn password(config: &Config) -> Result<&str, PgError> {
    config
        .password
        .as_deref()
        .ok_or_else(|| PgError::Auth("the server asks for a password and none was given".into()))
}

impl Connection {
    fn start(
        stream: TcpStream,
        read_so_far: BytesMut,
        cancel: Option<CancelKey>,
        notifications: Option<mpsc::UnboundedSender<Notification>>,
    ) -> Connection {
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            pending: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
        });
        let (requests, queue) = mpsc::unbounded_channel();
        kiln_runtime::spawn(write_loop(write, queue, shared.clone()));
        kiln_runtime::spawn(read_loop(read, read_so_far, shared.clone(), notifications));
        Connection { requests, shared, cancel }
    }

    /// Whether the socket failed or closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Queues `bytes` (ending in one `Sync`) now, in call order; the answer is awaited
    /// separately, so several requests can be queued before waiting for any.
    pub(crate) fn send(
        &self,
        bytes: BytesMut,
    ) -> Result<oneshot::Receiver<Result<Answer, PgError>>, PgError> {
        if self.is_closed() {
            return Err(PgError::Io("the connection is closed".into()));
        }
        let (respond, answer) = oneshot::channel();
        self.shared.outstanding.fetch_add(1, Ordering::SeqCst);
        self.requests
            .send(Request { bytes, respond: Some(respond) })
            .map_err(|_| PgError::Io("the connection is closed".into()))?;
        Ok(answer)
    }

    /// Queues `bytes` whose answer nobody waits for (a rollback from a dropped transaction).
    pub(crate) fn send_and_forget(&self, bytes: BytesMut) {
        self.shared.outstanding.fetch_add(1, Ordering::SeqCst);
        let _ = self.requests.send(Request { bytes, respond: None });
    }

    /// Requests sent (queued or written) and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.shared.outstanding.load(Ordering::SeqCst)
    }

    /// Asks the writer to end the session (`Terminate`).
    pub(crate) fn terminate(&self) {
        let mut bytes = BytesMut::new();
        frontend::terminate(&mut bytes);
        let _ = self.requests.send(Request { bytes, respond: None });
        // `Terminate` has no answer: nothing to record in the FIFO (the writer skips it).
    }
}

/// Waits for a queued request's answer.
pub(crate) async fn answer(receiver: oneshot::Receiver<Result<Answer, PgError>>) -> Result<Answer, PgError> {
    receiver.await.map_err(|_| PgError::Io("the connection closed before answering".into()))?
}

async fn write_loop(
    mut write: kiln_net::net::tcp::OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Request>,
    shared: Arc<Shared>,
) {
    let mut out = BytesMut::new();
    while let Some(first) = queue.recv().await {
        // Other requests in flight mean tasks are using the connection together: let the
        // ones woken with this one queue theirs, and one write carries them all. Alone, a
        // request goes at once (the yield would cost it a trip through the run queue).
        if queue.is_empty() && shared.outstanding.load(Ordering::SeqCst) > 1 {
            kiln_runtime::task::yield_now().await;
        }
        let mut next = Some(first);
        let mut terminate = false;
        while let Some(request) = next.take().or_else(|| queue.try_recv().ok()) {
            terminate |= request.bytes.first() == Some(&b'X');
            out.extend_from_slice(&request.bytes);
            if request.bytes.first() != Some(&b'X') {
                shared.pending().push_back(Pending { messages: Vec::new(), respond: request.respond });
            }
            if out.len() > 1 << 20 {
                break;
            }
        }
        if let Err(e) = write.write_all(&out).await {
            shared.fail_all(&PgError::Io(format!("writing: {e}")));
            return;
        }
        out.clear();
        if terminate {
            shared.closed.store(true, Ordering::SeqCst);
            return;
        }
    }
    // Every handle is gone: say goodbye so the server ends the backend at once.
    frontend::terminate(&mut out);
    let _ = write.write_all(&out).await;
}

async fn read_loop(
    mut read: kiln_net::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    shared: Arc<Shared>,
    notifications: Option<mpsc::UnboundedSender<Notification>>,
) {
    let mut chunk = vec![0u8; 16 * 1024];
    // The request being answered, taken off the FIFO at its first message: its messages
    // gather here without touching the lock again until its `ReadyForQuery`.
    let mut current: Option<Pending> = None;
    let fail = |current: &mut Option<Pending>, error: PgError| {
        if let Some(Pending { respond: Some(respond), .. }) = current.take() {
            let _ = respond.send(Err(error.clone()));
        }
        shared.fail_all(&error);
    };
    loop {
        loop {
            match Message::parse(&mut buf) {
                Ok(None) => break,
                Ok(Some(message)) => deliver(&shared, &mut current, message, notifications.as_ref()),
                Err(e) => {
                    tracing::error!(error = %e, "postgres: a malformed message; closing the connection");
                    fail(&mut current, PgError::Protocol(e.to_string()));
                    return;
                }
            }
        }
        match read.read(&mut chunk).await {
            Ok(0) => {
                fail(&mut current, PgError::Io("the server closed the connection".into()));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                fail(&mut current, PgError::Io(format!("reading: {e}")));
                return;
            }
        }
    }
}

fn deliver(
    shared: &Shared,
    current: &mut Option<Pending>,
    message: Message,
    notifications: Option<&mpsc::UnboundedSender<Notification>>,
) {
    match message {
        Message::NotificationResponse(n) => {
            if let (Some(tx), Ok(channel), Ok(payload)) = (notifications, n.channel(), n.message()) {
                let _ = tx.send(Notification {
                    process_id: n.process_id(),
                    channel: channel.to_owned(),
                    payload: payload.to_owned(),
                });
            }
        }
        Message::NoticeResponse(body) => {
            let notice = db_error(&mut body.fields());
            tracing::debug!(code = %notice.code, message = %notice.message, "postgres notice");
        }
        Message::ParameterStatus(_) => {}
        Message::ReadyForQuery(_) => {
            let done = current.take().or_else(|| shared.pending().pop_front());
            if done.is_some() {
                shared.outstanding.fetch_sub(1, Ordering::SeqCst);
            }
            match done {
                Some(Pending { mut messages, respond: Some(respond) }) => {
                    messages.push(message);
                    let _ = respond.send(Ok(messages));
                }
                Some(_) => {} // nobody waits for it
                None => tracing::warn!("postgres: ReadyForQuery with no request waiting"),
            }
        }
        other => {
            if current.is_none() {
                *current = shared.pending().pop_front();
            }
            match current {
                Some(Pending { messages, respond: Some(_) }) => messages.push(other),
                Some(_) => {}
                None => {
                    // A FATAL error outside any request: the server is about to close.
                    if let Message::ErrorResponse(body) = other {
                        let e = db_error(&mut body.fields());
                        tracing::warn!(code = %e.code, message = %e.message, "postgres: the server ended the session");
                    }
                }
            }
        }
    }
}

/// Sends a `CancelRequest` for `key` on a new connection to `addr`: the server interrupts
/// whatever that backend is running. It answers nothing; whether anything was running by
/// the time it arrives is a race the protocol does not settle.
pub(crate) async fn cancel(addr: &str, key: CancelKey) -> Result<(), PgError> {
    let mut stream = TcpStream::connect(addr).await.map_err(io)?;
    let mut out = BytesMut::new();
    frontend::cancel_request(key.process_id, key.secret_key, &mut out);
    stream.write_all(&out).await.map_err(io)?;
    let mut sink = [0u8; 1];
    let _ = stream.read(&mut sink).await; // the server closes it
    Ok(())
}
