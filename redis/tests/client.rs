//! The client against a real `redis-server` on a free loopback port: values of every type,
//! typed errors, many tasks pipelined on one connection, RESP3, scripts surviving
//! `SCRIPT FLUSH`, passwords, time limits, and a server killed and restarted under it.

use kiln_redis::{cmd, Client, ClientConfig, ErrorKind, RedisError, Script, Value};
use kiln_test_support::redis::RedisServer;
use kiln_test_support::rt;
use std::sync::Arc;
use std::time::Duration;

async fn client(server: &RedisServer) -> Client {
    Client::connect(ClientConfig::from_url(&server.url()).unwrap()).await.unwrap()
}

#[test]
fn strings_numbers_lists_hashes_and_typed_errors() {
    let server = RedisServer::start();
    rt().block_on(async {
        let redis = client(&server).await;
        redis.ping().await.unwrap();
        redis.set("greeting", "hello", None).await.unwrap();
        assert_eq!(redis.get::<String>("greeting").await.unwrap(), Some("hello".into()));
        assert_eq!(redis.get::<String>("nothing").await.unwrap(), None);
        redis.set("short", "lived", Some(Duration::from_millis(50))).await.unwrap();
        let ttl: i64 = redis.query(&cmd("PTTL").arg("short")).await.unwrap();
        assert!((1..=50).contains(&ttl), "{ttl}");
        assert_eq!(redis.query::<i64>(&cmd("INCRBY").arg("n").arg(41)).await.unwrap(), 41);
        assert_eq!(redis.query::<i64>(&cmd("INCR").arg("n")).await.unwrap(), 42);
        let bytes = vec![0u8, 13, 10, 255];
        redis.set("binary", bytes.clone(), None).await.unwrap();
        assert_eq!(redis.get::<Vec<u8>>("binary").await.unwrap(), Some(bytes));

        let _: i64 = redis.query(&cmd("RPUSH").arg("q").arg("a").arg("b").arg("c")).await.unwrap();
        let moved: Option<String> =
            redis.query(&cmd("LMOVE").arg("q").arg("done").arg("LEFT").arg("RIGHT")).await.unwrap();
        assert_eq!(moved.as_deref(), Some("a"));
        let rest: Vec<String> = redis.query(&cmd("LRANGE").arg("q").arg(0).arg(-1)).await.unwrap();
        assert_eq!(rest, ["b", "c"]);

        let _: i64 = redis.query(&cmd("HSET").arg("h").arg("f").arg("v").arg("g").arg(7)).await.unwrap();
        let all: Value = redis.query(&cmd("HGETALL").arg("h")).await.unwrap();
        assert!(matches!(all, Value::Map(ref pairs) if pairs.len() == 2), "RESP3 answers a map: {all:?}");
        let flat: Vec<String> = redis.query(&cmd("HGETALL").arg("h")).await.unwrap();
        assert_eq!(flat.len(), 4);

        let e = redis.query::<Value>(&cmd("INCR").arg("q")).await.unwrap_err();
        assert_eq!(e.kind(), Some(&ErrorKind::WrongType), "{e}");
        let e = redis.query::<Value>(&cmd("NOSUCHCOMMAND")).await.unwrap_err();
        assert!(matches!(e.kind(), Some(ErrorKind::Other(code)) if code == "ERR"), "{e}");
        assert!(matches!(redis.get::<i64>("greeting").await, Err(RedisError::Type(_))), "not a number");
        redis.ping().await.unwrap(); // errors left the connection usable
        assert_eq!(redis.del(&["greeting", "n", "absent"]).await.unwrap(), 2);
    });
}

#[test]
fn many_tasks_pipeline_on_one_connection() {
    let server = RedisServer::start();
    rt().block_on(async {
        let redis = Arc::new(client(&server).await);
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let redis = redis.clone();
                kiln_runtime::spawn(async move {
                    let key = format!("k{i}");
                    redis.set(&key, i, None).await.unwrap();
                    let _: i64 = redis.query(&cmd("INCR").arg("total")).await.unwrap();
                    redis.get::<i64>(&key).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some(i as i64), "each task got its own answers");
        }
        assert_eq!(redis.get::<i64>("total").await.unwrap(), Some(500));

        let commands: Vec<_> = (0..64).map(|i| cmd("ECHO").arg(format!("m{i}"))).collect();
        let answers = redis.pipeline(&commands).await.unwrap();
        let texts: Vec<String> =
            answers.into_iter().map(|a| kiln_redis::FromValue::from_value(a.unwrap()).unwrap()).collect();
        assert_eq!(texts, (0..64).map(|i| format!("m{i}")).collect::<Vec<_>>());
        let mixed = redis
            .pipeline(&[cmd("SET").arg("x").arg(1), cmd("LPUSH").arg("x").arg(1), cmd("GET").arg("x")])
            .await
            .unwrap();
        assert!(
            mixed[0].is_ok() && mixed[1].is_err() && mixed[2].is_ok(),
            "each command its own answer: {mixed:?}"
        );
    });
}

#[test]
fn a_script_survives_a_flush_of_the_script_cache() {
    let server = RedisServer::start();
    rt().block_on(async {
        let redis = client(&server).await;
        let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
        assert_eq!(script.invoke::<i64>(&redis, &["s"], &[b"5".to_vec()]).await.unwrap(), 5);
        let _: String = redis.query(&cmd("SCRIPT").arg("FLUSH")).await.unwrap();
        assert_eq!(script.invoke::<i64>(&redis, &["s"], &[b"2".to_vec()]).await.unwrap(), 7, "loaded again");
    });
}

#[test]
fn a_password_is_sent_and_a_wrong_one_refused() {
    let server = RedisServer::start_with(Some("s3cret"));
    rt().block_on(async {
        client(&server).await.ping().await.unwrap();
        let mut wrong = ClientConfig::from_url(&server.url()).unwrap();
        wrong.password = Some("guess".into());
        let e = Client::connect(wrong).await.unwrap_err();
        assert_eq!(e.kind(), Some(&ErrorKind::Auth), "{e}");
        let mut none = ClientConfig::from_url(&server.url()).unwrap();
        none.password = None;
        let e = Client::connect(none).await.unwrap_err();
        assert_eq!(e.kind(), Some(&ErrorKind::Auth), "no password: refused at the handshake: {e}");
    });
}

#[test]
fn a_slow_answer_times_out_and_the_connection_stays_usable() {
    let server = RedisServer::start();
    rt().block_on(async {
        let mut config = ClientConfig::from_url(&server.url()).unwrap();
        config.command_timeout = Duration::from_millis(100);
        let redis = Client::connect(config).await.unwrap();
        let e = redis.query::<Value>(&cmd("DEBUG").arg("SLEEP").arg("0.3")).await.unwrap_err();
        assert!(matches!(e, RedisError::Timeout(_)) && e.is_transient(), "{e}");
        kiln_runtime::time::sleep(Duration::from_millis(300)).await;
        redis.set("after", "the sleep", None).await.unwrap();
        assert_eq!(
            redis.get::<String>("after").await.unwrap().as_deref(),
            Some("the sleep"),
            "answers still match"
        );
    });
}

#[test]
fn the_client_comes_back_after_redis_restarts() {
    let mut server = RedisServer::start();
    rt().block_on(async {
        let redis = client(&server).await;
        redis.set("before", 1, None).await.unwrap();
        server.kill();
        let e = redis.get::<i64>("before").await.unwrap_err();
        assert!(e.is_transient(), "a lost connection is worth retrying: {e}");
        server.restart();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            match redis.set("after", 2, None).await {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_transient(), "{e}");
                    assert!(std::time::Instant::now() < deadline, "never reconnected: {e}");
                    kiln_runtime::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert_eq!(redis.get::<i64>("after").await.unwrap(), Some(2));
        assert_eq!(redis.get::<i64>("before").await.unwrap(), None, "a new server, without persistence");
    });
}

#[test]
fn a_subscriber_gets_what_is_published_after_it_subscribed() {
    let server = RedisServer::start();
    rt().block_on(async {
        let redis = client(&server).await;
        assert_eq!(redis.publish("news", "nobody listens").await.unwrap(), 0);
        let mut subscription = redis.subscribe(&["news", "sports"]).await.unwrap();
        assert_eq!(redis.publish("news", "jobs are waiting").await.unwrap(), 1);
        assert_eq!(redis.publish("sports", vec![0u8, 1]).await.unwrap(), 1);
        let first = subscription.next_message().await.unwrap();
        assert_eq!((first.channel.as_str(), &first.payload[..]), ("news", &b"jobs are waiting"[..]));
        let second = subscription.next_message().await.unwrap();
        assert_eq!((second.channel.as_str(), &second.payload[..]), ("sports", &[0u8, 1][..]));
        redis.ping().await.unwrap(); // the shared connection was not the subscribed one
    });
}

#[test]
fn a_pool_takes_its_connections_in_turn_and_replaces_a_killed_one() {
    let server = RedisServer::start();
    rt().block_on(async {
        let config = ClientConfig { connections: 3, ..ClientConfig::from_url(&server.url()).unwrap() };
        let redis = Client::connect(config).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(redis.query::<i64>(&cmd("CLIENT").arg("ID")).await.unwrap());
        }
        let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), 3, "three connections: {ids:?}");
        assert_eq!(ids[..3], ids[3..], "taken in turn: {ids:?}");

        // The server drops one of them; its next turn makes a new one.
        let killed: i64 = redis.query(&cmd("CLIENT").arg("KILL").arg("ID").arg(ids[1])).await.unwrap();
        assert_eq!(killed, 1);
        let mut after = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while after.len() < 6 {
            match redis.query::<i64>(&cmd("CLIENT").arg("ID")).await {
                Ok(id) => after.push(id),
                Err(e) => {
                    assert!(e.is_transient(), "{e}");
                    assert!(std::time::Instant::now() < deadline, "never replaced: {e}");
                }
            }
        }
        let now: std::collections::BTreeSet<i64> = after.iter().copied().collect();
        assert_eq!(now.len(), 3, "{after:?}");
        assert!(
            !now.contains(&ids[1]) && now.contains(&ids[0]) && now.contains(&ids[2]),
            "{ids:?} then {after:?}"
        );
    });
}
