//! The client against a real PostgreSQL cluster started for each test on a free loopback
//! port (SCRAM-SHA-256 authentication): values of every supported type both ways, typed
//! errors, the statement cache, many queries pipelined on one connection, transactions
//! that roll back unless committed, serializable conflicts, LISTEN/NOTIFY, cancellation of
//! a dropped query, statement timeouts, and the pool's limits and repairs.

use kiln_postgres::{Client, Config, Isolation, Json, Listener, PgError, Pool, PoolConfig, Timestamp};
use kiln_test_support::postgres::PostgresServer;
use kiln_test_support::rt;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(server: &PostgresServer) -> Config {
    Config::from_url(&server.url()).unwrap()
}

async fn client(server: &PostgresServer) -> Client {
    Client::connect(config(server)).await.unwrap()
}

/// Polls `check` until it holds, 10 s at most.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        kiln_runtime::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn values_of_every_type_go_both_ways_and_errors_are_typed() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let db = client(&server).await;
        let row = db
            .query_one(
                "SELECT $1::int8, $2::int4, $3::int2, $4::float8, $5::bool, $6::text, $7::bytea, $8::jsonb, $9::timestamptz, $10::text",
                &[
                    &i64::MIN,
                    &-5i32,
                    &7i16,
                    &2.5f64,
                    &true,
                    &"héllo, wörld",
                    &vec![0u8, 1, 255],
                    &Json(serde_json::json!({"a": [1, 2]})),
                    &Timestamp::from_unix_millis(1_764_670_000_123),
                    &None::<String>,
                ],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), i64::MIN);
        assert_eq!(row.get::<_, i32>(1), -5);
        assert_eq!(row.get::<_, i16>(2), 7);
        assert_eq!(row.get::<_, f64>(3), 2.5);
        assert!(row.get::<_, bool>(4));
        assert_eq!(row.get::<_, String>(5), "héllo, wörld");
        assert_eq!(row.get::<_, Vec<u8>>(6), [0, 1, 255]);
        assert_eq!(row.get::<_, Json>(7).0["a"][1], 2);
        assert_eq!(row.get::<_, Timestamp>(8).unix_millis(), 1_764_670_000_123);
        assert_eq!(row.get::<_, Option<String>>(9), None);
        assert!(row.try_get::<_, String>(0).is_err(), "an int8 is not a String");
        assert!(row.try_get::<_, String>(9).is_err(), "NULL needs an Option");

        db.batch_execute("CREATE TABLE t (id int8 PRIMARY KEY, name text NOT NULL)").await.unwrap();
        assert_eq!(db.execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", &[&1i64, &"a", &2i64, &"b"]).await.unwrap(), 2);
        let e = db.execute("INSERT INTO t VALUES ($1, $2)", &[&1i64, &"again"]).await.unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
        assert_eq!(e.db().unwrap().constraint.as_deref(), Some("t_pkey"));
        let e = db.query("SELEKT 1", &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("42601"), "a syntax error: {e}");
        let rows = db.query("SELECT id, name FROM t ORDER BY id", &[]).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.get::<_, String>("name")).collect::<Vec<_>>(), ["a", "b"]);
        assert!(db.query_one("SELECT 1 WHERE false", &[]).await.is_err());
        assert!(db.query_opt("SELECT 1 WHERE false", &[]).await.unwrap().is_none());

        let wrong = Client::connect(Config { password: Some("nope".into()), ..config(&server) }).await;
        assert!(matches!(wrong, Err(PgError::Auth(_))), "{wrong:?}");
    });
}

#[test]
fn statements_are_prepared_once_per_connection_and_evicted_least_recent_first() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let db = Client::connect(Config { statement_cache: 3, ..config(&server) }).await.unwrap();
        for i in 0..5i64 {
            assert_eq!(db.query_one("SELECT $1::int8 + 1", &[&i]).await.unwrap().get::<_, i64>(0), i + 1);
        }
        assert_eq!(db.cached_statements(), 1, "one SQL, one statement");
        let prepared = "SELECT count(*) FROM pg_prepared_statements";
        assert_eq!(db.query_one(prepared, &[]).await.unwrap().get::<_, i64>(0), 2, "and on the server");
        db.query("SELECT $1::int4", &[&1i32]).await.unwrap(); // same text, other types: another
        db.query("SELECT 42", &[]).await.unwrap();
        assert_eq!(db.cached_statements(), 3, "the limit: the oldest was closed");
        assert_eq!(db.query_one(prepared, &[]).await.unwrap().get::<_, i64>(0), 3);
        // A statement that fails to prepare is not kept.
        assert!(db.query("SELECT * FROM missing", &[]).await.is_err());
        assert!(db.query("SELECT * FROM missing", &[]).await.is_err());
        db.batch_execute("CREATE TABLE missing (x int8)").await.unwrap();
        assert!(db.query("SELECT * FROM missing", &[]).await.unwrap().is_empty());
    });
}

#[test]
fn many_tasks_pipeline_on_one_connection() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let db = Arc::new(client(&server).await);
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let db = db.clone();
                kiln_runtime::spawn(async move {
                    let sql = if i % 2 == 0 { "SELECT $1::int8 * 2" } else { "SELECT $1::int8 * 3" };
                    (i, db.query_one(sql, &[&i]).await.unwrap().get::<_, i64>(0))
                })
            })
            .collect();
        for t in tasks {
            let (i, v) = t.await.unwrap();
            assert_eq!(v, if i % 2 == 0 { i * 2 } else { i * 3 }, "task {i} got its own answer");
        }
        // An error in one request does not spill into the next.
        let (bad, good) =
            kiln_runtime::join!(db.query("SELECT 1/0", &[]), db.query_one("SELECT 7::int8", &[]));
        assert_eq!(bad.unwrap_err().code(), Some("22012"));
        assert_eq!(good.unwrap().get::<_, i64>(0), 7);
    });
}

#[test]
fn a_transaction_rolls_back_unless_committed() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let mut db = client(&server).await;
        db.batch_execute("CREATE TABLE n (v int8)").await.unwrap();
        {
            let tx = db.transaction().await.unwrap();
            tx.execute("INSERT INTO n VALUES (1)", &[]).await.unwrap();
            // dropped: rolled back
        }
        let tx = db.transaction().await.unwrap();
        tx.execute("INSERT INTO n VALUES (2)", &[]).await.unwrap();
        tx.commit().await.unwrap();
        let failed: Result<(), PgError> = async {
            let tx = db.transaction().await?;
            tx.execute("INSERT INTO n VALUES (3)", &[]).await?;
            tx.execute("INSERT INTO n VALUES ('x')", &[]).await?; // fails: `?` drops the guard
            tx.commit().await
        }
        .await;
        assert!(failed.is_err());
        let values: Vec<i64> =
            db.query("SELECT v FROM n", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(values, [2], "only the committed row");
    });
}

#[test]
fn serializable_conflicts_fail_one_side_with_a_retryable_error() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let (mut a, mut b) = (client(&server).await, client(&server).await);
        a.batch_execute("CREATE TABLE acct (id int8 PRIMARY KEY, balance int8); INSERT INTO acct VALUES (1, 100), (2, 100)")
            .await
            .unwrap();
        // Write skew: each reads both rows, then writes the one the other read.
        let ta = a.transaction_with(Isolation::Serializable).await.unwrap();
        let tb = b.transaction_with(Isolation::Serializable).await.unwrap();
        ta.query("SELECT sum(balance) FROM acct", &[]).await.unwrap();
        tb.query("SELECT sum(balance) FROM acct", &[]).await.unwrap();
        ta.execute("UPDATE acct SET balance = balance - 150 WHERE id = 1", &[]).await.unwrap();
        tb.execute("UPDATE acct SET balance = balance - 150 WHERE id = 2", &[]).await.unwrap();
        let first = ta.commit().await;
        let second = async {
            tb.execute("SELECT 1", &[]).await?;
            tb.commit().await
        }
        .await;
        assert!(first.is_ok(), "{first:?}");
        let e = second.unwrap_err();
        assert!(e.is_retryable_transaction(), "{e}");
    });
}

#[test]
fn a_listener_hears_what_is_notified_after_it_listens() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let mut listener = Listener::connect(config(&server)).await.unwrap();
        listener.listen("jobs added").await.unwrap();
        let db = client(&server).await;
        db.notify("jobs added", "42").await.unwrap();
        db.notify("elsewhere", "not for us").await.unwrap();
        db.notify("jobs added", "").await.unwrap();
        let first = listener.next().await.unwrap();
        assert_eq!((first.channel.as_str(), first.payload.as_str()), ("jobs added", "42"));
        assert_eq!(listener.next().await.unwrap().payload, "");
    });
}

/// Whether a statement whose text starts with `prefix` is running on the server.
async fn running(observer: &Client, prefix: &str) -> bool {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, $1)",
            &[&prefix],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        > 0
}

#[test]
fn a_dropped_query_is_cancelled_on_the_server_and_statement_timeouts_apply() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let db = client(&server).await;
        let observer = client(&server).await;
        let sleep =
            kiln_runtime::time::timeout(Duration::from_millis(200), db.query("SELECT pg_sleep(60)", &[]))
                .await;
        assert!(sleep.is_err(), "gave up after 200 ms");
        eventually("the server stopped the abandoned sleep", async || {
            !running(&observer, "SELECT pg_sleep(60)").await
        })
        .await;
        assert_eq!(db.query_one("SELECT 1::int8", &[]).await.unwrap().get::<_, i64>(0), 1, "still usable");

        let limited = Client::connect(Config {
            statement_timeout: Some(Duration::from_millis(100)),
            ..config(&server)
        })
        .await
        .unwrap();
        let e = limited.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
        assert_eq!(e.code(), Some("57014"), "{e}");
    });
}

#[test]
fn the_pool_bounds_waits_replaces_broken_connections_and_survives_a_restart() {
    let mut server = PostgresServer::start();
    rt().block_on(async {
        let limits =
            PoolConfig { max_size: 2, wait_timeout: Duration::from_millis(200), ..PoolConfig::default() };
        let pool = Pool::connect(config(&server), limits).await.unwrap();
        let one = pool.get().await.unwrap();
        let two = pool.get().await.unwrap();
        assert_eq!((pool.in_use(), pool.waits(), pool.timeouts()), (2, 0, 0));
        assert!(matches!(pool.get().await, Err(PgError::PoolTimeout(_))), "two lent, none free");
        assert_eq!((pool.waits(), pool.timeouts()), (1, 1), "one get waited, and gave up");
        let pid: i32 = two.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
        drop(two);
        let again = pool.get().await.unwrap();
        assert_eq!(
            again.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get::<_, i32>(0),
            pid,
            "reused"
        );
        drop(again);

        // The server ends that backend; the pool notices and makes a new one.
        one.query("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap();
        drop(one);
        eventually("a working connection again", async || match pool.get().await {
            Ok(c) => c.query_one("SELECT 1::int8", &[]).await.is_ok(),
            Err(_) => false,
        })
        .await;

        server.restart();
        eventually("the pool reconnects after a restart", async || match pool.get().await {
            Ok(c) => c.query_one("SELECT 1::int8", &[]).await.is_ok(),
            Err(_) => false,
        })
        .await;
        assert!(pool.size() <= 2, "{}", pool.size());
    });
}

#[test]
fn a_conflicting_serializable_transaction_runs_again_and_sees_the_winner() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let setup = client(&server).await;
        setup
            .batch_execute("CREATE TABLE acct (id int8 PRIMARY KEY, balance int8); INSERT INTO acct VALUES (1, 100), (2, 100)")
            .await
            .unwrap();
        // Each withdraws 150 from its own account if the two together hold enough. Run one
        // after the other, only the first can; run together, both read 200 — write skew —
        // and serializable isolation fails one, which must then run again and see 50.
        let both_read = Arc::new(kiln_runtime::sync::Barrier::new(2));
        let tasks: Vec<_> = [1i64, 2]
            .into_iter()
            .map(|id| {
                let (server_url, both_read) = (server.url(), both_read.clone());
                kiln_runtime::spawn(async move {
                    let mut db = Client::connect(Config::from_url(&server_url).unwrap()).await.unwrap();
                    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
                    let withdrew = db
                        .run_transaction(Isolation::Serializable, |tx| {
                            // The body may run again: it owns what it uses.
                            let (runs, both_read) = (runs.clone(), both_read.clone());
                            Box::pin(async move {
                                let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                                let total: i64 =
                                    tx.query_one("SELECT sum(balance)::int8 FROM acct", &[]).await?.get(0);
                                if run == 1 {
                                    both_read.wait().await; // the first attempts overlap for sure
                                }
                                if total < 150 {
                                    return Ok::<_, PgError>(false);
                                }
                                tx.execute("UPDATE acct SET balance = balance - 150 WHERE id = $1", &[&id]).await?;
                                Ok(true)
                            })
                        })
                        .await
                        .unwrap();
                    let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
                    (withdrew, runs)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        outcomes.sort();
        assert_eq!(outcomes.iter().filter(|(w, _)| *w).count(), 1, "one withdrawal: {outcomes:?}");
        assert!(outcomes.iter().any(|(_, runs)| *runs >= 2), "the loser ran again: {outcomes:?}");
        let total: i64 = setup.query_one("SELECT sum(balance)::int8 FROM acct", &[]).await.unwrap().get(0);
        assert_eq!(total, 50, "as if one ran after the other");
    });
}

#[test]
fn rows_go_in_by_the_thousand_in_multi_row_statements() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let mut db = client(&server).await;
        db.batch_execute("CREATE TABLE points (id int8 PRIMARY KEY, label text, weight float8)")
            .await
            .unwrap();
        let ids: Vec<i64> = (0..30_000).collect();
        let labels: Vec<String> = ids.iter().map(|i| format!("p{i}")).collect();
        let weight = 0.5f64;
        let rows: Vec<[&dyn kiln_postgres::ToSql; 3]> = ids
            .iter()
            .zip(&labels)
            .map(|(id, label)| [id as &dyn kiln_postgres::ToSql, label, &weight])
            .collect();
        let rows: Vec<&[&dyn kiln_postgres::ToSql]> = rows.iter().map(|r| r.as_slice()).collect();
        // 30 000 rows of 3: 90 000 parameters, over one statement's limit, so two statements.
        let tx = db.transaction().await.unwrap();
        assert_eq!(tx.insert_rows("points", &["id", "label", "weight"], &rows).await.unwrap(), 30_000);
        tx.commit().await.unwrap();
        let row = db.query_one("SELECT count(*), max(label), sum(weight) FROM points", &[]).await.unwrap();
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, String>(1), row.get::<_, f64>(2)),
            (30_000, "p9999".into(), 15_000.0)
        );
        let short: [&dyn kiln_postgres::ToSql; 1] = [&1i64];
        assert!(db.insert_rows("points", &["id", "label"], &[&short]).await.is_err(), "a row too short");
        let e = db.insert_rows("points", &["id", "label", "weight"], &[rows[0]]).await.unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
    });
}

#[test]
fn md5_and_cleartext_passwords_are_spoken_too() {
    let server = PostgresServer::start();
    rt().block_on(async {
        let admin = client(&server).await;
        admin
            .batch_execute(
                "SET password_encryption = 'md5'; CREATE ROLE old_md5 LOGIN PASSWORD 'hunter2';
                 SET password_encryption = 'scram-sha-256'; CREATE ROLE plain LOGIN PASSWORD 'swordfish';",
            )
            .await
            .unwrap();
        // Servers older than PostgreSQL 14 default to md5; `password` sends it in the clear.
        let hba = server.dir().join("data").join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        let first = "host all old_md5 127.0.0.1/32 md5\nhost all plain 127.0.0.1/32 password\n";
        std::fs::write(&hba, format!("{first}{rules}")).unwrap();
        admin.query("SELECT pg_reload_conf()", &[]).await.unwrap();
        let as_role = |user: &str, password: &str| Config {
            user: user.into(),
            password: Some(password.into()),
            database: "postgres".into(),
            ..config(&server)
        };
        let md5 = Client::connect(as_role("old_md5", "hunter2")).await.unwrap();
        assert_eq!(
            md5.query_one("SELECT current_user::text", &[]).await.unwrap().get::<_, String>(0),
            "old_md5"
        );
        let plain = Client::connect(as_role("plain", "swordfish")).await.unwrap();
        assert_eq!(
            plain.query_one("SELECT current_user::text", &[]).await.unwrap().get::<_, String>(0),
            "plain"
        );
        assert!(matches!(Client::connect(as_role("old_md5", "wrong")).await, Err(PgError::Auth(_))));
    });
}
