//! Kiln's Redis client against redis-rs (its multiplexed connection on Tokio), both on
//! 2-worker runtimes, against one private `redis-server` started for the run: one command's
//! round trip, a pipeline of 64 commands, and 32 tasks sharing one connection at once.
//!
//! ```text
//! cargo bench --bench redis
//! KILN_BENCH_PAIRED=15 cargo bench --bench redis     # interleaved, ratio with its IQR
//! ```

// `criterion_group!` generates a public function without docs.
#![allow(missing_docs)]

#[path = "support/paired.rs"]
mod paired;

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_test_support::redis::RedisServer;
use redis_rs::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn kiln_rt() -> kiln::runtime::Runtime {
    kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let url = server.url();
    let krt = kiln_rt();
    let trt = tokio_rt();
    let kiln = Arc::new(krt.block_on(async {
        kiln::redis::Client::connect(kiln::redis::ClientConfig::from_url(&url).unwrap()).await.unwrap()
    }));
    let rs = trt.block_on(async {
        redis_rs::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap()
    });
    krt.block_on(async { kiln.set("key", "value", None).await.unwrap() });

    {
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let v: Option<String> = kiln.get("key").await.unwrap();
                        assert!(v.is_some());
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_rs = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                let mut conn = rs.clone();
                trt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..n {
                        let v: Option<String> = conn.get("key").await.unwrap();
                        assert!(v.is_some());
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(c, "redis", "redis_get_rtt", &mut [("kiln", &mut on_kiln), ("redis-rs", &mut on_rs)]);
    }

    {
        let commands: Vec<_> = (0..64).map(|i| kiln::redis::cmd("SET").arg(format!("p{i}")).arg(i)).collect();
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let answers = kiln.pipeline(&commands).await.unwrap();
                        assert_eq!(answers.len(), 64);
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_rs = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                let mut conn = rs.clone();
                trt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..n {
                        let mut pipe = redis_rs::pipe();
                        for i in 0..64 {
                            pipe.set(format!("p{i}"), i).ignore();
                        }
                        let () = pipe.query_async(&mut conn).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "redis",
            "redis_pipeline64",
            &mut [("kiln", &mut on_kiln), ("redis-rs", &mut on_rs)],
        );
    }

    {
        let mut on_kiln = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                krt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..n {
                        let tasks: Vec<_> = (0..32)
                            .map(|_| {
                                let kiln = kiln.clone();
                                kiln::spawn(async move { kiln.get::<String>("key").await.unwrap() })
                            })
                            .collect();
                        for t in tasks {
                            assert!(t.await.unwrap().is_some());
                        }
                    }
                    start.elapsed()
                })
            })
        };
        let mut on_rs = |b: &mut paired::Bencher| {
            b.iter_custom(|n| {
                let conn = rs.clone();
                trt.block_on(async move {
                    let start = Instant::now();
                    for _ in 0..n {
                        let tasks: Vec<_> = (0..32)
                            .map(|_| {
                                let mut conn = conn.clone();
                                tokio::spawn(
                                    async move { conn.get::<_, Option<String>>("key").await.unwrap() },
                                )
                            })
                            .collect();
                        for t in tasks {
                            assert!(t.await.unwrap().is_some());
                        }
                    }
                    start.elapsed()
                })
            })
        };
        paired::compare(
            c,
            "redis",
            "redis_concurrent32",
            &mut [("kiln", &mut on_kiln), ("redis-rs", &mut on_rs)],
        );
    }
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
