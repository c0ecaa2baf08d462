//! Week 1, channels: how tasks talk. Four patterns, each with the channel that fits it:
//!
//! 1. a producer/consumer pipeline with **backpressure** (bounded `mpsc`): a fast producer is
//!    slowed to the consumer's pace instead of filling memory;
//! 2. **fan-out** with `broadcast`: every subscriber sees every event, and a subscriber that
//!    falls behind is told how many it missed;
//! 3. **request/reply** with `oneshot` inside an `mpsc` message: a tiny "actor" owning state;
//! 4. **graceful stop** with `watch`: workers finish their current item and exit.
//!
//! Run it:
//!
//! ```text
//! cargo run --example week1_channels
//! ```
//!
//! What to look for: in 1, the producer runs two items ahead and then keeps the consumer's
//! pace (~31 ms apart); in 2, the slow subscriber is told how many events it missed; in 3,
//! the totals add up in order; in 4, each worker finishes the item in hand before it stops.

use kiln::sync::{broadcast, mpsc, oneshot, watch};
use kiln::time::{sleep, Instant};
use std::time::Duration;

#[kiln::main]
async fn main() {
    backpressure().await;
    fan_out().await;
    request_reply().await;
    graceful_stop().await;
}

async fn backpressure() {
    println!("1. pipeline with backpressure: mpsc::channel(2), a fast producer, a slow consumer");
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    let start = Instant::now();
    let producer = kiln::spawn(async move {
        for i in 1..=6 {
            tx.send(i).await.expect("the consumer outlives the producer");
            println!(
                "    produced {i} at {:>3} ms (send waits while 2 items are queued)",
                start.elapsed().as_millis()
            );
        }
    });
    while let Some(item) = rx.recv().await {
        sleep(Duration::from_millis(30)).await; // slow work
        println!("    consumed {item} at {:>3} ms", start.elapsed().as_millis());
    }
    producer.await.unwrap();
}

async fn fan_out() {
    println!("\n2. fan-out: broadcast::channel(4), one fast and one lagging subscriber");
    let (tx, mut fast) = broadcast::channel::<String>(4);
    let mut slow = tx.subscribe();
    for i in 1..=8 {
        tx.send(format!("event {i}")).expect("subscribers exist");
        println!("    fast got {:?}", fast.recv().await.unwrap());
    }
    drop(tx);
    loop {
        match slow.recv().await {
            Ok(event) => println!("    slow got {event:?}"),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                println!("    slow lagged: {n} events were overwritten before it read them")
            }
            Err(broadcast::error::RecvError::Closed) => {
                println!("    slow: channel closed, every retained event seen");
                break;
            }
        }
    }
}

/// A message to the counter actor: what to do, and where to send the answer.
enum Command {
    Add(u64, oneshot::Sender<u64>),
    Get(oneshot::Sender<u64>),
}

async fn request_reply() {
    println!("\n3. request/reply: a counter actor behind mpsc, answering through oneshot");
    let (tx, mut rx) = mpsc::channel::<Command>(16);
    let actor = kiln::spawn(async move {
        let mut total = 0; // owned by this task alone: no lock needed
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Add(n, reply) => {
                    total += n;
                    let _ = reply.send(total);
                }
                Command::Get(reply) => {
                    let _ = reply.send(total);
                }
            }
        }
    });
    let clients: Vec<_> = (1..=3)
        .map(|n| {
            let tx = tx.clone();
            kiln::spawn(async move {
                let (reply_tx, reply_rx) = oneshot::channel();
                tx.send(Command::Add(n * 10, reply_tx)).await.unwrap();
                println!("    client {n} added {}: total now {}", n * 10, reply_rx.await.unwrap());
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let (reply_tx, reply_rx) = oneshot::channel();
    tx.send(Command::Get(reply_tx)).await.unwrap();
    println!("    final total: {}", reply_rx.await.unwrap());
    drop(tx); // the actor's recv returns None and it exits
    actor.await.unwrap();
}

async fn graceful_stop() {
    println!("\n4. graceful stop: workers watch a shutdown flag");
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers: Vec<_> = (1..=3)
        .map(|id| {
            let mut stop = stop_rx.clone();
            kiln::spawn(async move {
                let mut done = 0;
                loop {
                    kiln::select! {
                        _ = sleep(Duration::from_millis(10 * id)) => done += 1,
                        _ = stop.changed() => break,
                    }
                }
                println!("    worker {id} stopped cleanly after {done} items");
            })
        })
        .collect();
    sleep(Duration::from_millis(100)).await;
    println!("    asking workers to stop");
    stop_tx.send(true).expect("workers are listening");
    for w in workers {
        w.await.unwrap();
    }
}
