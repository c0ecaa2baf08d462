//! Week 1 playground: tasks, `join!`, `select!` and timers on Kiln's runtime.
//!
//! Five simulated downloads (timers of different lengths stand in for the network) are run
//! one after another, then concurrently with `spawn` and with `join!`; then `select!` races a
//! download against a deadline, races two mirrors and cancels the loser; last, a small timer
//! type built on `sleep`. The wall times show why concurrency matters: sequential time is the
//! *sum* of the waits, concurrent time is the *longest* one.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example week1_playground
//! ```

use kiln::time::{sleep, timeout, Instant};
use std::time::Duration;

/// A pretend download: waits `ms` milliseconds (the "network"), then returns a size.
async fn download(name: &'static str, ms: u64) -> (&'static str, usize) {
    sleep(Duration::from_millis(ms)).await;
    (name, ms as usize * 1024)
}

const FILES: [(&str, u64); 5] =
    [("index.html", 120), ("style.css", 80), ("app.js", 200), ("logo.png", 150), ("data.json", 60)];

/// Prints when dropped, so cancellation is visible.
struct SayWhenDropped(&'static str);

impl Drop for SayWhenDropped {
    fn drop(&mut self) {
        println!("    ({} was cancelled: its future was dropped)", self.0);
    }
}

/// A fake async timer built on `sleep`: counts down, one tick per period.
struct Countdown {
    remaining: u32,
    period: Duration,
}

impl Countdown {
    fn new(from: u32, period: Duration) -> Countdown {
        Countdown { remaining: from, period }
    }

    /// Waits one period and returns the next number, or `None` at zero.
    async fn next(&mut self) -> Option<u32> {
        if self.remaining == 0 {
            return None;
        }
        sleep(self.period).await;
        self.remaining -= 1;
        Some(self.remaining)
    }
}

#[kiln::main]
async fn main() {
    println!("Kiln week 1 playground — {} simulated downloads", FILES.len());

    println!("\n1. sequential: each download waits for the previous one");
    let start = Instant::now();
    for (name, ms) in FILES {
        let (name, bytes) = download(name, ms).await;
        println!("    {name:<11} {bytes:>7} bytes at {:>4} ms", start.elapsed().as_millis());
    }
    let sequential = start.elapsed();

    println!("\n2. concurrent with spawn: every download is its own task");
    let start = Instant::now();
    let handles: Vec<_> = FILES.iter().map(|&(name, ms)| kiln::spawn(download(name, ms))).collect();
    for handle in handles {
        let (name, bytes) = handle.await.expect("download task panicked");
        println!("    {name:<11} {bytes:>7} bytes at {:>4} ms", start.elapsed().as_millis());
    }
    let concurrent = start.elapsed();

    println!("\n3. concurrent with join!: all in this task, no spawn");
    let start = Instant::now();
    let (a, b, c) = kiln::join!(download("a.txt", 100), download("b.txt", 50), download("c.txt", 75));
    println!("    {} + {} + {} done together at {} ms", a.0, b.0, c.0, start.elapsed().as_millis());

    println!("\n4. select!: a timeout");
    match timeout(Duration::from_millis(100), download("huge.iso", 5_000)).await {
        Ok((name, _)) => println!("    {name} finished (unexpected)"),
        Err(elapsed) => println!("    huge.iso: {elapsed} after 100 ms, gave up"),
    }

    println!("\n5. select!: first mirror wins, the loser is cancelled");
    let slow_mirror = async {
        let _guard = SayWhenDropped("mirror-eu");
        download("mirror-eu", 300).await
    };
    let fast_mirror = download("mirror-us", 90);
    kiln::select! {
        (name, bytes) = slow_mirror => println!("    {name} won with {bytes} bytes"),
        (name, bytes) = fast_mirror => println!("    {name} won with {bytes} bytes"),
    }

    println!("\n6. a fake timer built on sleep");
    let mut countdown = Countdown::new(3, Duration::from_millis(50));
    while let Some(n) = countdown.next().await {
        println!("    {n}…");
    }
    println!("    liftoff");

    println!("\nsummary");
    println!("    sequential: {:>4} ms (the sum of the waits)", sequential.as_millis());
    println!("    concurrent: {:>4} ms (the longest wait)", concurrent.as_millis());
    println!(
        "    speed-up:   {:.1}x, because waiting on a timer (or a socket) does not need a thread",
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );
}
