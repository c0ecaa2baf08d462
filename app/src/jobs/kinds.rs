//! The kinds of job this service runs.
//!
//! - `welcome_email` (enqueued by a signup): sends the welcome message through the mailer
//!   service (`--mailer-url`, `mailer.rs`) with the idempotency key `job-<id>`, so a retry
//!   after a crash does not send it twice, and the signup's request id. Without a mailer it
//!   writes the message to a local outbox, a file of JSON lines beside the database
//!   (`<db>.outbox`); there a retry after a crash between writing and recording success
//!   writes it again, and each line carries the job id to spot repeats by.
//! - `book_available` (enqueued by a return, for the first member on the book's wait list,
//!   `library/waitlist.rs`): the same way, a notice that a copy is free.
//! - `demo` (public: `POST /jobs`): waits `ms` milliseconds, and fails its first
//!   `fail_attempts` attempts, to watch retries, backoff and dead jobs happen.

use super::registry::{JobContext, JobError, KindOptions, Registry};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The kinds `POST /jobs` accepts (the OpenAPI document lists them; a test holds this to
/// the registry).
pub const PUBLIC_KINDS: &[&str] = &["demo"];

/// Longest `demo` wait.
pub const DEMO_MAX_MS: u64 = 60_000;

/// A mailer call's time limit; a slower mailer fails the attempt, which is retried.
pub const MAILER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where welcome emails go.
#[derive(Debug, Clone)]
pub enum Mail {
    /// The mailer service at this base URL.
    Mailer(String),
    /// A local outbox file.
    Outbox(PathBuf),
}

/// The service's kinds, sending mail through `mail`.
pub fn registry(mail: Mail) -> Registry {
    let client = kiln_http::Client::new().timeouts(MAILER_TIMEOUT, MAILER_TIMEOUT);
    let post = Post { mail, client };
    let welcome = post.clone();
    Registry::new()
        .register("welcome_email", KindOptions::default(), move |cx| welcome_email(welcome.clone(), cx))
        .register("book_available", KindOptions::default(), move |cx| book_available(post.clone(), cx))
        .register("demo", KindOptions { public: true, ..KindOptions::default() }, demo)
}

/// How the email kinds send.
#[derive(Debug, Clone)]
struct Post {
    mail: Mail,
    client: kiln_http::Client,
}

/// The text field `name` of a job's payload.
fn field(cx: &JobContext, name: &str) -> Result<String, JobError> {
    cx.payload[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| JobError::Permanent(format!("the payload has no {name}")))
}

impl Post {
    /// Sends `message` for job `cx`: to the mailer (key `job-<id>`, the request id from the
    /// payload if any, the call a span of the job's trace), or appended to the outbox file.
    async fn send(&self, cx: &JobContext, message: crate::mailer::Message) -> Result<(), JobError> {
        let outbox = match &self.mail {
            Mail::Mailer(base) => {
                let key = format!("job-{}", cx.id);
                let origin = crate::mailer::Origin {
                    request_id: cx.payload["request_id"].as_str(),
                    trace: Some(&cx.trace),
                };
                return crate::mailer::deliver(&self.client, base, &message, &key, origin).await;
            }
            Mail::Outbox(path) => path.clone(),
        };
        let line = serde_json::json!({ "job": cx.id, "to": message.to, "subject": message.subject, "body": message.body });
        kiln_runtime::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&outbox)?;
            writeln!(file, "{line}")
        })
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?
        .map_err(|e| JobError::Retry(format!("writing the outbox: {e}")))
    }
}

/// Where the outbox of the database at `db` is.
pub fn outbox_path(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".outbox");
    PathBuf::from(name)
}

async fn welcome_email(post: Post, cx: JobContext) -> Result<(), JobError> {
    let (to, name) = (field(&cx, "email")?, field(&cx, "display_name")?);
    let body = format!("Hello {name}, your account is ready. Borrow up to five books at a time.");
    post.send(&cx, crate::mailer::Message { to, subject: "Welcome to the library".into(), body }).await
}

async fn book_available(post: Post, cx: JobContext) -> Result<(), JobError> {
    let (to, title) = (field(&cx, "email")?, field(&cx, "title")?);
    let id = cx.payload["book_id"]
        .as_i64()
        .ok_or_else(|| JobError::Permanent("the payload has no book_id".into()))?;
    let body = format!(
        "A copy of \"{title}\" was just returned, and you were first on its wait list. \
         It is not held for you: borrow it at /books/{id}/loans before someone else does."
    );
    post.send(&cx, crate::mailer::Message { to, subject: format!("\"{title}\" is back"), body }).await
}

async fn demo(cx: JobContext) -> Result<(), JobError> {
    let number = |name: &str, max: u64| match cx.payload.get(name) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= max)
            .ok_or_else(|| JobError::Permanent(format!("{name} must be an integer from 0 to {max}"))),
    };
    let ms = number("ms", DEMO_MAX_MS)?;
    let fail_attempts = number("fail_attempts", 100)?;
    kiln_runtime::time::sleep(Duration::from_millis(ms)).await;
    if u64::from(cx.attempt) <= fail_attempts {
        return Err(JobError::Retry(format!(
            "demo failure on attempt {} of the first {fail_attempts}",
            cx.attempt
        )));
    }
    Ok(())
}
