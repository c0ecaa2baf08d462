//! Kiln's PostgreSQL client against tokio-postgres (on Tokio; deadpool-postgres for its
//! pool), both on 2-worker runtimes, against one private PostgreSQL cluster started for the
//! run: a one-row select's round trip, 64 selects pipelined on one connection, 32 tasks
//! sharing a pool of 8, and a transaction of three statements. Both sides use prepared
//! statements (Kiln's cache; tokio-postgres's `prepare` done once before measuring).
//!
//! ```text
//! cargo bench --bench postgres
//! KILN_BENCH_PAIRED=15 cargo bench --bench postgres     # interleaved, ratio with its IQR
//! ```

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

#[path = "support/paired.rs"]
mod paired;

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_test_support::postgres::PostgresServer;
use std::sync::Arc;
use std::time::Instant;

const SELECT: &str = "SELECT id, title FROM books WHERE id = $1";

fn bench(c: &mut Criterion) {
    let server = PostgresServer::start();
    let url = server.url();
    let krt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let trt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = kiln::postgres::Config::from_url(&url).unwrap();
    let kiln = Arc::new(krt.block_on(async {
        let db = kiln::postgres::Client::connect(config.clone()).await.unwrap();
        db.batch_execute(
            "CREATE TABLE books (id int8 PRIMARY KEY, title text NOT NULL, available int8 NOT NULL);
             INSERT INTO books SELECT i, 'Book ' || i, 1000000 FROM generate_series(1, 100) i;
             CREATE TABLE loans (id bigserial PRIMARY KEY, book_id int8 NOT NULL, at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
        db
    }));
    let kiln_pool = kiln::postgres::Pool::new(
        config.clone(),
        kiln::postgres::PoolConfig { max_size: 8, ..Default::default() },
    );
    let (tokio_client, tokio_select) = trt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let select = client.prepare(SELECT).await.unwrap();
        (Arc::new(client), select)
    });
    let deadpool = {
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.clone());
        cfg.pool = Some(deadpool_postgres::PoolConfig::new(8));
        let _guard = trt.enter();
        cfg.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls).unwrap()
    };

    {
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        let id = (i % 100 + 1) as i64;
                        let row = kiln.query_one(SELECT, &[&id]).await.unwrap();
                        assert_eq!(row.get::<_, i64>(0), id);
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_tokio = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                trt.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        let id = (i % 100 + 1) as i64;
                        let row = tokio_client.query_one(&tokio_select, &[&id]).await.unwrap();
                        assert_eq!(row.get::<_, i64>(0), id);
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "postgres",
            "pg_select_rtt",
            &mut [("kiln", &mut on_kiln), ("tokio-postgres", &mut on_tokio)],
        );
    }

    {
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let queries = (1..=64i64).map(|id| {
                            let kiln = &kiln;
                            async move { kiln.query_one(SELECT, &[&id]).await.unwrap().get::<_, i64>(0) }
                        });
                        let ids = futures::future::join_all(queries).await;
                        assert_eq!(ids[63], 64);
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_tokio = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                trt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let queries = (1..=64i64).map(|id| {
                            let (client, select) = (&tokio_client, &tokio_select);
                            async move { client.query_one(select, &[&id]).await.unwrap().get::<_, i64>(0) }
                        });
                        let ids = futures::future::join_all(queries).await;
                        assert_eq!(ids[63], 64);
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "postgres",
            "pg_pipeline64",
            &mut [("kiln", &mut on_kiln), ("tokio-postgres", &mut on_tokio)],
        );
    }

    {
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let tasks: Vec<_> = (1..=32i64)
                            .map(|id| {
                                let pool = kiln_pool.clone();
                                kiln::spawn(async move {
                                    let db = pool.get().await.unwrap();
                                    db.query_one(SELECT, &[&id]).await.unwrap().get::<_, i64>(0)
                                })
                            })
                            .collect();
                        for (i, t) in tasks.into_iter().enumerate() {
                            assert_eq!(t.await.unwrap(), i as i64 + 1);
                        }
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_tokio = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                trt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let tasks: Vec<_> = (1..=32i64)
                            .map(|id| {
                                let pool = deadpool.clone();
                                tokio::spawn(async move {
                                    let db = pool.get().await.unwrap();
                                    let select = db.prepare_cached(SELECT).await.unwrap();
                                    db.query_one(&select, &[&id]).await.unwrap().get::<_, i64>(0)
                                })
                            })
                            .collect();
                        for (i, t) in tasks.into_iter().enumerate() {
                            assert_eq!(t.await.unwrap(), i as i64 + 1);
                        }
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "postgres",
            "pg_pool32_over_8",
            &mut [("kiln", &mut on_kiln), ("tokio-postgres+deadpool", &mut on_tokio)],
        );
    }

    {
        const TAKE: &str = "UPDATE books SET available = available - 1 WHERE id = $1";
        const RECORD: &str = "INSERT INTO loans (book_id) VALUES ($1) RETURNING id";
        let mut kiln_tx = krt.block_on(kiln::postgres::Client::connect(config.clone())).unwrap();
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        let id = (i % 100 + 1) as i64;
                        let tx = kiln_tx.transaction().await.unwrap();
                        tx.execute(TAKE, &[&id]).await.unwrap();
                        tx.query_one(RECORD, &[&id]).await.unwrap();
                        tx.query_one(SELECT, &[&id]).await.unwrap();
                        tx.commit().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        };
        let (mut tokio_tx, statements) = trt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            let s = (
                client.prepare(TAKE).await.unwrap(),
                client.prepare(RECORD).await.unwrap(),
                client.prepare(SELECT).await.unwrap(),
            );
            (client, s)
        });
        let mut on_tokio = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                trt.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        let id = (i % 100 + 1) as i64;
                        let tx = tokio_tx.transaction().await.unwrap();
                        tx.execute(&statements.0, &[&id]).await.unwrap();
                        tx.query_one(&statements.1, &[&id]).await.unwrap();
                        tx.query_one(&statements.2, &[&id]).await.unwrap();
                        tx.commit().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "postgres",
            "pg_transaction3",
            &mut [("kiln", &mut on_kiln), ("tokio-postgres", &mut on_tokio)],
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);
