//! One connection to Redis, shared by any number of tasks: their commands are pipelined on
//! the socket and each gets its own answer.
//!
//! Two tasks own the socket's halves. The **writer** takes requests from a bounded channel,
//! records each one's expected answers in a shared FIFO *before* writing its bytes, and
//! writes everything queued in one go. The **reader** parses answers and hands each to the
//! request at the front of the FIFO. Redis answers in order, so the FIFO is the whole
//! matching: no ids, no lookups. Reading never waits for writing, so a large command and a
//! large answer cannot block each other.
//!
//! A caller that stops waiting (a timeout, a dropped future) leaves its entry in the FIFO:
//! its answer is read and thrown away, and the answers after it still match. A RESP3 push
//! (a pub/sub message) answers no request and does not touch the FIFO. When the socket
//! fails, every waiting request gets the error and the connection reports itself closed;
//! [`crate::Client`] then makes a new one.

use crate::codec;
use crate::error::RedisError;
use crate::value::Value;
use kiln_net::io::{AsyncReadExt, AsyncWriteExt};
use kiln_net::net::TcpStream;
use kiln_runtime::sync::{mpsc, oneshot};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Requests queued for the writer before callers wait for room.
const QUEUE: usize = 64;

type Answers = Vec<Result<Value, RedisError>>;

/// Commands on their way, with the number of answers they expect.
struct Request {
    bytes: Vec<u8>,
    answers: usize,
    respond: oneshot::Sender<Result<Answers, RedisError>>,
}

/// A request written and waiting for its answers.
struct Pending {
    left: usize,
    answers: Answers,
    respond: oneshot::Sender<Result<Answers, RedisError>>,
}

struct Shared {
    pending: Mutex<VecDeque<Pending>>,
    closed: AtomicBool,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every waiting request with `error` and marks the connection closed.
    fn fail_all(&self, error: &RedisError) {
        self.closed.store(true, Ordering::SeqCst);
        for p in self.pending().drain(..) {
            let _ = p.respond.send(Err(error.clone()));
        }
    }
}

/// A multiplexed connection; clone it to share it.
#[derive(Clone)]
pub struct Connection {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts the reader and writer on `stream`. Pushes (RESP3 out-of-band messages) go to
    /// `pushes` if given.
    pub fn start(stream: TcpStream, pushes: Option<mpsc::UnboundedSender<Value>>) -> Connection {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let shared =
            Arc::new(Shared { pending: Mutex::new(VecDeque::new()), closed: AtomicBool::new(false) });
        let (requests, queue) = mpsc::channel(QUEUE);
        kiln_runtime::spawn(write_loop(write, queue, shared.clone()));
        kiln_runtime::spawn(read_loop(read, shared.clone(), pushes));
        Connection { requests, shared }
    }

    /// Whether the socket failed or closed: a new connection is needed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Sends commands already encoded in `bytes`, expecting `answers` answers.
    ///
    /// # Errors
    /// [`RedisError::Io`] if the connection failed before the answers came.
    pub async fn send_encoded(&self, bytes: Vec<u8>, answers: usize) -> Result<Answers, RedisError> {
        if self.is_closed() {
            return Err(RedisError::Io("the connection is closed".into()));
        }
        let (respond, answer) = oneshot::channel();
        self.requests
            .send(Request { bytes, answers, respond })
            .await
            .map_err(|_| RedisError::Io("the connection is closed".into()))?;
        answer.await.map_err(|_| RedisError::Io("the connection closed before answering".into()))?
    }
}

async fn write_loop(
    mut write: kiln_net::net::tcp::OwnedWriteHalf,
    mut queue: mpsc::Receiver<Request>,
    shared: Arc<Shared>,
) {
    let mut out = Vec::new();
    while let Some(first) = queue.recv().await {
        // Let the tasks woken with this one queue their commands too: one write for them all.
        if queue.is_empty() {
            kiln_runtime::task::yield_now().await;
        }
        let mut next = Some(first);
        // Everything queued now goes out in one write.
        while let Some(request) = next.take().or_else(|| queue.try_recv().ok()) {
            out.extend_from_slice(&request.bytes);
            let pending = Pending {
                left: request.answers,
                answers: Vec::with_capacity(request.answers),
                respond: request.respond,
            };
            if pending.left == 0 {
                let _ = pending.respond.send(Ok(Vec::new()));
            } else {
                shared.pending().push_back(pending);
            }
            if out.len() > 1 << 20 {
                break;
            }
        }
        if let Err(e) = write.write_all(&out).await {
            shared.fail_all(&RedisError::Io(format!("writing: {e}")));
            return;
        }
        out.clear();
    }
}

async fn read_loop(
    mut read: kiln_net::net::tcp::OwnedReadHalf,
    shared: Arc<Shared>,
    pushes: Option<mpsc::UnboundedSender<Value>>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut start = 0;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        loop {
            match codec::parse(&buf[start..]) {
                Ok(None) => break,
                Ok(Some((answer, used))) => {
                    start += used;
                    deliver(&shared, answer, pushes.as_ref());
                }
                Err(e) => {
                    tracing::error!(error = %e, "redis: the server sent something that is not RESP; closing");
                    shared.fail_all(&e);
                    return;
                }
            }
        }
        buf.drain(..start);
        start = 0;
        match read.read(&mut chunk).await {
            Ok(0) => {
                shared.fail_all(&RedisError::Io("the server closed the connection".into()));
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                shared.fail_all(&RedisError::Io(format!("reading: {e}")));
                return;
            }
        }
    }
}

/// Hands one answer to the request at the front of the FIFO (or a push to `pushes`).
fn deliver(
    shared: &Shared,
    answer: Result<Value, RedisError>,
    pushes: Option<&mpsc::UnboundedSender<Value>>,
) {
    if let Ok(Value::Push(items)) = answer {
        if let Some(tx) = pushes {
            let _ = tx.send(Value::Push(items));
        }
        return;
    }
    let mut pending = shared.pending();
    let Some(front) = pending.front_mut() else {
        tracing::warn!("redis: an answer nobody asked for; dropped");
        return;
    };
    front.answers.push(answer);
    front.left -= 1;
    if front.left == 0 {
        let done = pending.pop_front().expect("the front exists");
        drop(pending);
        let _ = done.respond.send(Ok(done.answers)); // a caller that gave up dropped its receiver
    }
}
