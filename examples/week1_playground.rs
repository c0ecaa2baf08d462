//! Week 1 playground: tasks, `join!`, `select!` and timers on Kiln's runtime.
//!
//! Five simulated downloads (timers of different lengths stand in for the network) are run
//! one after another, then concurrently with `spawn` and with `join!`; then `select!` races a
//! download against a deadline, races two mirrors and cancels the loser; then a small timer
//! type built on `sleep`; last, what happens when a task blocks its thread instead of
//! awaiting. The wall times show why concurrency matters: sequential time is the *sum* of the
//! waits, concurrent time is the *longest* one — unless a task blocks.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example week1_playground
//! ```
//!
//! What to look for: section 1 ends near 610 ms (120 + 80 + 200 + 150 + 60), sections 2 and 3
//! near the longest single wait; in section 2 each download reports when *it* finished, so
//! they finish in order of length, not in the order they were awaited. Section 7 shows the
//! same five downloads blocking their thread: about 610 ms on one thread, fewer on two, and
//! back to about 200 ms once the blocking calls move to `spawn_blocking`.

use kiln::runtime::Builder;
use kiln::time::{sleep, Instant};
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
    let handles: Vec<_> = FILES
        .iter()
        .map(|&(name, ms)| {
            kiln::spawn(async move {
                let (name, bytes) = download(name, ms).await;
                (name, bytes, start.elapsed()) // when this task finished, not when it is awaited
            })
        })
        .collect();
    for handle in handles {
        let (name, bytes, finished) = handle.await.expect("download task panicked");
        println!("    {name:<11} {bytes:>7} bytes, finished at {:>4} ms", finished.as_millis());
    }
    let concurrent = start.elapsed();

    println!("\n3. concurrent with join!: all in this task, no spawn");
    let start = Instant::now();
    let (a, b, c) = kiln::join!(download("a.txt", 100), download("b.txt", 50), download("c.txt", 75));
    println!("    {} + {} + {} done together at {} ms", a.0, b.0, c.0, start.elapsed().as_millis());

    println!("\n4. select!: a timeout (what `kiln::time::timeout` does for you)");
    let start = Instant::now();
    kiln::select! {
        (name, _) = download("huge.iso", 5_000) => println!("    {name} finished (unexpected)"),
        () = sleep(Duration::from_millis(100)) => {
            println!("    huge.iso: gave up after {} ms; the download's future was dropped", start.elapsed().as_millis());
        }
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

    println!("\n7. blocking: the same five downloads, each calling std::thread::sleep");
    // Each measurement builds its own runtime, which must not happen on a thread that is
    // already running one: `spawn_blocking` gives this code a thread of its own.
    let blocked = kiln::task::spawn_blocking(blocking_demo).await.expect("the blocking demo panicked");

    println!("\nsummary");
    println!("    sequential: {:>4} ms (the sum of the waits)", sequential.as_millis());
    println!("    concurrent: {:>4} ms (the longest wait)", concurrent.as_millis());
    println!(
        "    speed-up:   {:.1}x, because waiting on a timer (or a socket) does not need a thread",
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );
    println!(
        "    blocking:   {:>4} ms on one thread, {:>4} ms on two, {:>4} ms with spawn_blocking",
        blocked[0].as_millis(),
        blocked[1].as_millis(),
        blocked[2].as_millis()
    );
}

/// A download written wrong: `std::thread::sleep` holds the thread for the whole wait, so no
/// other task can run on it meanwhile.
async fn blocking_download(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Spawns the five blocking downloads on `rt` and returns how long they took together.
fn time_blocking_downloads(rt: &kiln::runtime::Runtime, offload: bool) -> Duration {
    rt.block_on(async move {
        let start = Instant::now();
        let handles: Vec<_> = FILES
            .iter()
            .map(|&(_, ms)| {
                if offload {
                    // The blocking call gets a thread of the blocking pool; the task only awaits it.
                    kiln::spawn(async move {
                        kiln::task::spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)))
                            .await
                            .unwrap()
                    })
                } else {
                    kiln::spawn(blocking_download(ms))
                }
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        start.elapsed()
    })
}

/// Section 7: blocking calls inside tasks, on one thread, on two, and moved off the workers.
fn blocking_demo() -> [Duration; 3] {
    let one = Builder::new_current_thread().enable_all().build().unwrap();
    let on_one = time_blocking_downloads(&one, false);
    println!(
        "    one thread (current_thread):     {:>4} ms — the sum: while a task blocks, nothing else runs",
        on_one.as_millis()
    );
    let two = Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let on_two = time_blocking_downloads(&two, false);
    println!(
        "    two workers (multi_thread):      {:>4} ms — each blocked task costs a whole worker",
        on_two.as_millis()
    );
    println!("      (with a worker per task, as on a machine with 8 CPUs and the default worker count,");
    println!("       it would look like 200 ms: the runtime hides blocking until load exceeds its workers)");
    let offloaded = time_blocking_downloads(&one, true);
    println!(
        "    one thread, spawn_blocking:      {:>4} ms — the longest: the blocking calls run elsewhere",
        offloaded.as_millis()
    );
    [on_one, on_two, offloaded]
}
