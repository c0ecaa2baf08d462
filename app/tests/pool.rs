//! The connection pool against a real SQLite file: transactions commit or roll back (on error
//! and on panic), writers are serialised (and a write that waits is counted), readers run
//! beside them, and a caller that goes away mid-query does not lose a connection.

use kiln_app::db::{DbError, Pool, PoolConfig};
use kiln_test_support::rt;
use std::time::Duration;

async fn pool(dir: &tempfile::TempDir) -> Pool {
    let p = Pool::open(dir.path().join("p.db"), PoolConfig { readers: 2, ..PoolConfig::default() })
        .await
        .unwrap();
    p.write(|c| c.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)").map_err(DbError::from)).await.unwrap();
    p
}

async fn count(p: &Pool) -> i64 {
    p.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).map_err(DbError::from)).await.unwrap()
}

#[test]
fn transactions_commit_on_ok_and_roll_back_on_error_and_panic() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let p = pool(&dir).await;
        p.transaction(|tx| tx.execute("INSERT INTO t VALUES (1)", []).map_err(DbError::from)).await.unwrap();
        let failed: Result<(), DbError> = p
            .transaction(|tx| {
                tx.execute("INSERT INTO t VALUES (2)", [])?;
                Err(DbError::Internal("changed my mind".into()))
            })
            .await;
        assert!(failed.is_err());
        let pool2 = p.clone();
        let panicked = kiln_runtime::spawn(async move {
            pool2
                .transaction(|tx| -> Result<(), DbError> {
                    tx.execute("INSERT INTO t VALUES (3)", [])?;
                    panic!("bug in the middle of a transaction");
                })
                .await
        })
        .await;
        assert!(panicked.unwrap_err().is_panic(), "the panic reaches the caller");
        assert_eq!(count(&p).await, 1, "only the committed row");
        // The writer came back after the panic: another write works.
        p.write(|c| c.execute("INSERT INTO t VALUES (4)", []).map_err(DbError::from)).await.unwrap();
        assert_eq!(count(&p).await, 2);
    });
}

#[test]
fn concurrent_writers_are_serialised_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let p = pool(&dir).await;
        let mut tasks = kiln_runtime::task::JoinSet::new();
        for i in 0..50 {
            let p = p.clone();
            tasks.spawn(async move {
                p.transaction(move |tx| {
                    let n: i64 = tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
                    tx.execute("INSERT INTO t VALUES (?1)", [n * 1000 + i])?;
                    Ok::<_, DbError>(())
                })
                .await
                .unwrap();
            });
        }
        // Readers run while the writers queue.
        for _ in 0..20 {
            assert!(count(&p).await <= 50);
        }
        while tasks.join_next().await.is_some() {}
        assert_eq!(count(&p).await, 50);
        let distinct: i64 = p
            .read(|c| {
                c.query_row("SELECT COUNT(DISTINCT n / 1000) FROM t", [], |r| r.get(0)).map_err(DbError::from)
            })
            .await
            .unwrap();
        assert_eq!(distinct, 50, "each transaction saw the previous ones: no lost update");
    });
}

#[test]
fn a_write_behind_a_held_writer_waits_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let p = pool(&dir).await;
        assert_eq!((p.waits(), p.in_use()), ((0, 0), (0, 0)));
        // The first write holds the writer until told to go.
        let (go, hold) = std::sync::mpsc::channel::<()>();
        let (held, holding) = kiln_runtime::sync::oneshot::channel::<()>();
        let first = kiln_runtime::spawn({
            let p = p.clone();
            async move {
                p.write(move |_| {
                    let _ = held.send(());
                    hold.recv().map_err(|_| DbError::from(rusqlite::Error::InvalidQuery))
                })
                .await
            }
        });
        holding.await.unwrap();
        assert_eq!(p.in_use().1, 1, "the writer is lent");
        let second = kiln_runtime::spawn({
            let p = p.clone();
            async move { p.write(|c| c.execute("INSERT INTO t VALUES (1)", []).map_err(DbError::from)).await }
        });
        kiln_test_support::wait_until("the second write waits for the writer", || p.waits().1 == 1);
        go.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 1);
        assert_eq!((p.waits().0, p.in_use()), (0, (0, 0)), "no read waited; all given back");
    });
}

#[test]
fn a_cancelled_caller_does_not_lose_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let p = pool(&dir).await;
        // The write takes 200 ms; the caller gives up after 10.
        let slow = p.write(|c| {
            std::thread::sleep(Duration::from_millis(200));
            c.execute("INSERT INTO t VALUES (7)", []).map_err(DbError::from)
        });
        assert!(kiln_runtime::time::timeout(Duration::from_millis(10), slow).await.is_err());
        // The job still finished and gave the writer back.
        p.write(|c| c.execute("INSERT INTO t VALUES (8)", []).map_err(DbError::from)).await.unwrap();
        assert_eq!(count(&p).await, 2);
    });
}

#[test]
fn a_newer_database_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL); INSERT INTO schema_migrations VALUES (999, 'future', 0);").unwrap();
    }
    rt().block_on(async {
        let err = Pool::open(&path, PoolConfig::default()).await.unwrap_err();
        assert!(err.to_string().contains("newer Kiln"), "{err}");
    });
}
