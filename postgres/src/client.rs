//! [`Client`]: one connection's statements — prepared once and cached, run with binary
//! parameters, pipelined when several tasks (or one task's joined futures) use it at once.
//!
//! **One round trip, even the first time.** A statement's first run sends `Parse` (with the
//! parameter types the Rust values declare), `Describe`, `Bind`, `Execute` and `Sync`
//! together; later runs send `Bind`, `Execute`, `Sync` under the cached name. The cache
//! is per connection (prepared statements live in the server's session), keyed by the SQL
//! and the parameter types, least recently used dropped first with a `Close`.
//!
//! Deciding "cached or not" and queueing the request happen under one lock, so a second
//! task running the same SQL meanwhile sends its `Bind` after the first task's `Parse`:
//! the server has the statement by the time it reads the `Bind`. While the first answer is
//! still on its way, the second asks for its own row description (`Describe` on the portal).
//!
//! **Cancellation.** A query whose future is dropped before its answer — a timeout around
//! it, a client that went away — sends a `CancelRequest`, so the server stops working for
//! nobody. Only when it is the connection's one request in flight: a cancel interrupts
//! whatever the backend is running when it arrives, and that must not be someone else's
//! statement.

use crate::config::Config;
use crate::connection::{self, Answer, Connection, Notification};
use crate::error::{db_error, PgError};
use crate::row::{Column, Row};
use crate::types::{Oid, ToSql};
use bytes::BytesMut;
use postgres_protocol::message::{backend::Message, frontend};
use postgres_protocol::IsNull;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A prepared statement on this connection.
struct Prepared {
    types: Vec<Oid>,
    name: String,
    /// `None` until the answer to its `Describe` arrives.
    columns: Option<Arc<[Column]>>,
    last_used: u64,
}

#[derive(Default)]
struct Statements {
    by_sql: HashMap<String, Vec<Prepared>>,
    count: usize,
    clock: u64,
}

/// A connection's statements, and how to run them.
pub struct Client {
    connection: Connection,
    config: Arc<Config>,
    statements: Mutex<Statements>,
    names: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("addr", &self.config.addr).field("closed", &self.is_closed()).finish()
    }
}

/// How a request will describe its rows.
enum Plan {
    /// Parse + Describe statement: the answer holds the columns; cache them.
    Prepare { name: String },
    /// Known columns.
    Known(Arc<[Column]>),
    /// Prepared by a request still in flight: Describe the portal.
    DescribePortal,
}

/// The dropped-query guard: cancels on the server if the answer never came.
struct Waiting<'a> {
    client: &'a Client,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done || self.client.connection.in_flight() != 1 {
            return;
        }
        let (Some(key), Ok(handle)) =
            (self.client.connection.cancel, kiln_runtime::runtime::Handle::try_current())
        else {
            return;
        };
        let addr = self.client.config.addr.clone();
        handle.spawn(async move {
            if let Err(e) = connection::cancel(&addr, key).await {
                tracing::debug!(error = %e, "postgres: the cancel request failed");
            }
        });
    }
}

fn protocol(e: std::io::Error) -> PgError {
    PgError::Protocol(e.to_string())
}

impl Client {
    /// Connects and authenticates.
    ///
    /// # Errors
    /// The connection, its authentication or its time limit failed.
    pub async fn connect(config: Config) -> Result<Client, PgError> {
        Client::connect_with(Arc::new(config), None).await
    }

    pub(crate) async fn connect_with(
        config: Arc<Config>,
        notifications: Option<kiln_runtime::sync::mpsc::UnboundedSender<Notification>>,
    ) -> Result<Client, PgError> {
        let connection = connection::connect(&config, notifications).await?;
        Ok(Client { connection, config, statements: Mutex::default(), names: AtomicU64::new(0) })
    }

    /// Whether the connection failed or closed (a pool then drops it).
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// The settings it connected with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn statements(&self) -> std::sync::MutexGuard<'_, Statements> {
        self.statements.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `sql` with `params` (`$1`, `$2`, …) and returns its rows.
    ///
    /// # Errors
    /// The server's error (with its SQLSTATE), a lost connection, or a parameter that
    /// cannot be sent.
    pub async fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, PgError> {
        self.run(sql, params).await.map(|(rows, _)| rows)
    }

    /// Runs `sql` and returns its one row.
    ///
    /// # Errors
    /// As [`Client::query`], and [`PgError::Type`] for no row or more than one.
    pub async fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Row, PgError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            1 => Ok(rows.pop().expect("one row")),
            n => Err(PgError::Type(format!("expected one row, got {n}"))),
        }
    }

    /// Runs `sql` and returns its row, if it has one.
    ///
    /// # Errors
    /// As [`Client::query`], and [`PgError::Type`] for more than one row.
    pub async fn query_opt(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, PgError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(PgError::Type(format!("expected at most one row, got {n}"))),
        }
    }

    /// Runs `sql` and returns how many rows it changed (or returned).
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, PgError> {
        self.run(sql, params).await.map(|(_, affected)| affected)
    }

    /// Runs one or more statements separated by `;`, without parameters, through the simple
    /// query protocol (migrations, `SET`, `LISTEN`). Rows are discarded.
    ///
    /// # Errors
    /// The first failing statement's error (the rest do not run; an implicit transaction
    /// around them rolls back).
    pub async fn batch_execute(&self, sql: &str) -> Result<(), PgError> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).map_err(protocol)?;
        let answer = self.wait(self.connection.send(out)?).await?;
        for message in answer {
            if let Message::ErrorResponse(body) = message {
                return Err(db_error(&mut body.fields()).into());
            }
        }
        Ok(())
    }

    async fn wait(
        &self,
        receiver: kiln_runtime::sync::oneshot::Receiver<Result<Answer, PgError>>,
    ) -> Result<Answer, PgError> {
        let mut guard = Waiting { client: self, done: false };
        let answer = connection::answer(receiver).await;
        guard.done = true;
        answer
    }

    /// [`Client::exchange`] in a span naming the statement.
    async fn run(&self, sql: &str, params: &[&dyn ToSql]) -> Result<(Vec<Row>, u64), PgError> {
        let span = tracing::info_span!(target: "kiln::data", "postgres", "db.system" = "postgresql", "db.statement" = sql);
        tracing::Instrument::instrument(self.exchange(sql, params), span).await
    }

    /// One statement's round trip: parse (the first time), bind, execute, sync.
    async fn exchange(&self, sql: &str, params: &[&dyn ToSql]) -> Result<(Vec<Row>, u64), PgError> {
        let types: Vec<Oid> = params.iter().map(|p| p.sql_type()).collect();
        let mut out = BytesMut::new();
        // Decide and queue under the lock: see the module doc.
        let (plan, name, receiver) = {
            let mut statements = self.statements();
            statements.clock += 1;
            let now = statements.clock;
            let found = statements
                .by_sql
                .get_mut(sql)
                .and_then(|list| list.iter_mut().find(|p| p.types == types))
                .map(|p| {
                    p.last_used = now;
                    (p.name.clone(), p.columns.clone())
                });
            let (plan, name) = match found {
                Some((name, Some(columns))) => (Plan::Known(columns), name),
                Some((name, None)) => (Plan::DescribePortal, name),
                None => {
                    let name = format!("k{}", self.names.fetch_add(1, Ordering::Relaxed));
                    frontend::parse(&name, sql, types.iter().copied(), &mut out).map_err(protocol)?;
                    frontend::describe(b'S', &name, &mut out).map_err(protocol)?;
                    self.remember(&mut statements, sql, &types, &name, now);
                    (Plan::Prepare { name: name.clone() }, name)
                }
            };
            bind(&name, params, &mut out)?;
            if matches!(plan, Plan::DescribePortal) {
                frontend::describe(b'P', "", &mut out).map_err(protocol)?;
            }
            frontend::execute("", 0, &mut out).map_err(protocol)?;
            frontend::sync(&mut out);
            let receiver = self.connection.send(out)?;
            (plan, name, receiver)
        };
        let answer = self.wait(receiver).await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                if matches!(plan, Plan::Prepare { .. }) {
                    self.forget(sql, &name);
                }
                return Err(e);
            }
        };
        let (columns, rows, affected, error) = read_answer(answer, plan_columns(&plan))?;
        if let Some(e) = error {
            if matches!(plan, Plan::Prepare { .. }) {
                self.forget(sql, &name); // the Parse may be what failed
            }
            return Err(e);
        }
        if let (Plan::Prepare { name }, Some(columns)) = (&plan, columns) {
            let mut statements = self.statements();
            if let Some(p) =
                statements.by_sql.get_mut(sql).and_then(|l| l.iter_mut().find(|p| p.name == *name))
            {
                p.columns = Some(columns);
            }
        }
        Ok((rows, affected))
    }

    /// Records a statement being prepared; evicts the least recently used past the limit.
    fn remember(&self, statements: &mut Statements, sql: &str, types: &[Oid], name: &str, now: u64) {
        statements.by_sql.entry(sql.to_owned()).or_default().push(Prepared {
            types: types.to_vec(),
            name: name.to_owned(),
            columns: None,
            last_used: now,
        });
        statements.count += 1;
        if statements.count <= self.config.statement_cache.max(1) {
            return;
        }
        let oldest = statements
            .by_sql
            .iter()
            .flat_map(|(sql, list)| list.iter().map(move |p| (p.last_used, sql.clone(), p.name.clone())))
            .min();
        if let Some((_, sql, name)) = oldest {
            if let Some(list) = statements.by_sql.get_mut(&sql) {
                list.retain(|p| p.name != name);
                if list.is_empty() {
                    statements.by_sql.remove(&sql);
                }
            }
            statements.count -= 1;
            // Queued after every request that used it, so none of them loses it.
            let mut out = BytesMut::new();
            if frontend::close(b'S', &name, &mut out).is_ok() {
                frontend::sync(&mut out);
                self.connection.send_and_forget(out);
            }
        }
    }

    fn forget(&self, sql: &str, name: &str) {
        let mut statements = self.statements();
        let mut removed = false;
        if let Some(list) = statements.by_sql.get_mut(sql) {
            let before = list.len();
            list.retain(|p| p.name != name);
            removed = list.len() < before;
            if list.is_empty() {
                statements.by_sql.remove(sql);
            }
        }
        if removed {
            statements.count -= 1;
        }
    }

    /// Inserts `rows` into `table`'s `columns` with multi-row `INSERT … VALUES ($1, $2), ($3,
    /// $4), …` statements — as many rows per statement as PostgreSQL's limit of 65 535
    /// parameters allows — and returns how many rows went in. Bulk loading without `COPY`:
    /// the rows are typed parameters like any others. `table` and `columns` are identifiers
    /// written into the SQL, never user input. Wrap it in a transaction for all-or-nothing.
    ///
    /// # Errors
    /// As [`Client::execute`]; [`PgError::Type`] if a row's width is not `columns.len()`.
    pub async fn insert_rows(
        &self,
        table: &str,
        columns: &[&str],
        rows: &[&[&dyn ToSql]],
    ) -> Result<u64, PgError> {
        if columns.is_empty() {
            return Err(PgError::Type("insert_rows needs at least one column".into()));
        }
        if let Some(row) = rows.iter().find(|r| r.len() != columns.len()) {
            return Err(PgError::Type(format!(
                "a row of {} values for {} columns",
                row.len(),
                columns.len()
            )));
        }
        let per_statement = (u16::MAX as usize / columns.len()).max(1);
        let mut inserted = 0;
        for chunk in rows.chunks(per_statement) {
            let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
            let mut n = 0;
            for (i, _) in chunk.iter().enumerate() {
                sql.push_str(if i == 0 { "(" } else { ", (" });
                for c in 0..columns.len() {
                    n += 1;
                    sql.push_str(&format!("{}${n}", if c == 0 { "" } else { ", " }));
                }
                sql.push(')');
            }
            let params: Vec<&dyn ToSql> = chunk.iter().flat_map(|r| r.iter().copied()).collect();
            inserted += self.execute(&sql, &params).await?;
        }
        Ok(inserted)
    }

    /// Statements cached on this connection.
    pub fn cached_statements(&self) -> usize {
        self.statements().count
    }

    /// Queues `bytes` without waiting for the answer (a transaction's rollback on drop).
    pub(crate) fn send_and_forget(&self, bytes: BytesMut) {
        self.connection.send_and_forget(bytes);
    }

    /// Ends the session politely.
    pub fn close(&self) {
        self.connection.terminate();
    }
}

fn plan_columns(plan: &Plan) -> Option<Arc<[Column]>> {
    match plan {
        Plan::Known(columns) => Some(columns.clone()),
        _ => None,
    }
}

/// `Bind` with every parameter and result in binary format.
fn bind(name: &str, params: &[&dyn ToSql], out: &mut BytesMut) -> Result<(), PgError> {
    let result = frontend::bind(
        "",
        name,
        std::iter::once(1i16),
        params.iter(),
        |param, buf| Ok(if param.to_sql(buf) { IsNull::No } else { IsNull::Yes }),
        std::iter::once(1i16),
        out,
    );
    match result {
        Ok(()) => Ok(()),
        Err(frontend::BindError::Conversion(e)) => Err(PgError::Type(e.to_string())),
        Err(frontend::BindError::Serialization(e)) => Err(protocol(e)),
    }
}

type Read = (Option<Arc<[Column]>>, Vec<Row>, u64, Option<PgError>);

/// The columns (if described), the rows, the affected count and the server's error, from
/// one request's answer.
fn read_answer(answer: Answer, known: Option<Arc<[Column]>>) -> Result<Read, PgError> {
    use fallible_iterator::FallibleIterator;
    let mut columns = known;
    let mut described = None;
    let mut rows = Vec::new();
    let mut affected = 0;
    let mut error = None;
    for message in answer {
        match message {
            Message::RowDescription(body) => {
                let mut fields = body.fields();
                let mut list = Vec::new();
                while let Some(f) = fields.next().map_err(protocol)? {
                    list.push(Column { name: f.name().to_owned(), ty: f.type_oid() });
                }
                let list: Arc<[Column]> = list.into();
                columns = Some(list.clone());
                described = Some(list);
            }
            Message::NoData => {
                let empty: Arc<[Column]> = Arc::from(Vec::new());
                columns = Some(empty.clone());
                described = Some(empty);
            }
            Message::DataRow(body) => {
                let columns = columns
                    .clone()
                    .ok_or_else(|| PgError::Protocol("a row before its description".into()))?;
                let ranges = body.ranges().collect::<Vec<_>>().map_err(protocol)?;
                if ranges.len() != columns.len() {
                    return Err(PgError::Protocol("a row with the wrong number of values".into()));
                }
                rows.push(Row::new(columns, body.buffer_bytes().clone(), ranges));
            }
            Message::CommandComplete(body) => {
                let tag = body.tag().map_err(protocol)?;
                affected = tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
            Message::ErrorResponse(body) => error = Some(db_error(&mut body.fields()).into()),
            Message::ParseComplete
            | Message::BindComplete
            | Message::ParameterDescription(_)
            | Message::EmptyQueryResponse
            | Message::ReadyForQuery(_) => {}
            _ => return Err(PgError::Protocol("an unexpected message in a query's answer".into())),
        }
    }
    Ok((described, rows, affected, error))
}
