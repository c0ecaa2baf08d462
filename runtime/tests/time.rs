//! Timers: sleep, timeout, interval, the paused clock.

extern crate kiln_runtime as kiln;

use kiln::time::{self, Instant, MissedTickBehavior};
use kiln_test_support::runtimes;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn sleep_never_ends_early_on_a_real_clock() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            for ms in [0u64, 1, 3, 10, 25] {
                let start = std::time::Instant::now();
                time::sleep(Duration::from_millis(ms)).await;
                assert!(start.elapsed() >= Duration::from_millis(ms), "{name}: {ms} ms sleep ended early");
            }
        });
    }
}

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    for (name, rt) in runtimes() {
        let fired = rt.block_on(async {
            // Deadlines fixed up front, and far enough out that every timer is registered
            // before the first is due (the premise of an ordering test; checked below).
            let start = Instant::now() + Duration::from_millis(300);
            let fired = Arc::new(Mutex::new(Vec::new()));
            let mut handles = Vec::new();
            for ms in [30u64, 5, 20, 1, 12, 8] {
                let fired = fired.clone();
                let deadline = start + Duration::from_millis(ms);
                handles.push(kiln::spawn(async move {
                    assert!(Instant::now() < start, "test premise: registered after a deadline passed");
                    time::sleep_until(deadline).await;
                    fired.lock().unwrap().push((ms, Instant::now() >= deadline));
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let v = fired.lock().unwrap().clone();
            v
        });
        assert!(fired.iter().all(|&(_, on_time)| on_time), "{name}: a timer fired early: {fired:?}");
        if name == "current_thread" {
            // One thread: timers due in the same turn are woken, and run, in deadline order.
            // (With several workers, two tasks woken together may run in parallel.)
            let order: Vec<u64> = fired.iter().map(|&(ms, _)| ms).collect();
            assert_eq!(order, vec![1, 5, 8, 12, 20, 30], "{name}");
        }
    }
}

#[kiln::test(start_paused = true)]
async fn paused_clock_fires_many_timers_in_exact_order_instantly() {
    let start = Instant::now();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    // Deadlines spanning several wheel levels: ms, seconds, minutes, hours.
    for secs in [3_600u64, 1, 70, 0, 5, 86_400, 4_000] {
        let order = order.clone();
        handles.push(kiln::spawn(async move {
            time::sleep(Duration::from_millis(secs * 1000 + 1)).await;
            order.lock().unwrap().push((secs, Instant::now()));
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    let secs: Vec<u64> = order.iter().map(|(s, _)| *s).collect();
    assert_eq!(secs, vec![0, 1, 5, 70, 3_600, 4_000, 86_400]);
    for (s, at) in order {
        assert_eq!(
            at - start,
            Duration::from_millis(s * 1000 + 1),
            "auto-advance lands exactly on deadlines"
        );
    }
}

#[kiln::test(start_paused = true)]
async fn timeout_elapses_and_passes_through() {
    let slow = time::timeout(Duration::from_secs(30), time::sleep(Duration::from_secs(60))).await;
    let err = slow.unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
    let fast = time::timeout(Duration::from_secs(30), async { 5 }).await;
    assert_eq!(fast.unwrap(), 5);
    let at = time::timeout_at(Instant::now() + Duration::from_millis(10), std::future::pending::<()>()).await;
    assert!(at.is_err());
    let io_err: std::io::Error = err.into();
    assert_eq!(io_err.kind(), std::io::ErrorKind::TimedOut);
}

#[kiln::test(start_paused = true)]
async fn a_timeout_that_fires_drops_its_future() {
    let (guard, dropped) = kiln_test_support::drop_flag();
    let r = time::timeout(Duration::from_millis(5), async move {
        let _guard = guard;
        std::future::pending::<()>().await
    })
    .await;
    assert!(r.is_err());
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

#[kiln::test(start_paused = true)]
async fn sleep_reset_moves_the_deadline_both_ways() {
    let start = Instant::now();
    let sleep = time::sleep(Duration::from_secs(10));
    kiln::pin!(sleep);
    sleep.as_mut().reset(start + Duration::from_secs(2));
    sleep.as_mut().await;
    assert_eq!(Instant::now() - start, Duration::from_secs(2));
    assert!(sleep.is_elapsed());
    // Reset after completion re-arms it.
    sleep.as_mut().reset(Instant::now() + Duration::from_secs(3));
    assert!(!sleep.is_elapsed());
    sleep.as_mut().await;
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
}

#[kiln::test(start_paused = true)]
async fn reset_while_registered_wakes_at_the_new_deadline() {
    let start = Instant::now();
    let sleep = time::sleep(Duration::from_secs(100));
    kiln::pin!(sleep);
    // Register the timer (first poll), then move it earlier.
    assert!(futures::poll!(sleep.as_mut()).is_pending());
    sleep.as_mut().reset(start + Duration::from_millis(250));
    sleep.await;
    assert_eq!(Instant::now() - start, Duration::from_millis(250));
}

#[kiln::test(start_paused = true)]
async fn advance_fires_due_timers() {
    let start = Instant::now();
    let handle = kiln::spawn(async move {
        time::sleep(Duration::from_secs(5)).await;
        Instant::now()
    });
    kiln::task::yield_now().await; // let it register its timer
    time::advance(Duration::from_secs(4)).await;
    assert!(!handle.is_finished());
    time::advance(Duration::from_secs(1)).await;
    let fired_at = handle.await.unwrap();
    assert_eq!(fired_at - start, Duration::from_secs(5));
}

/// Ticks of an interval whose consumer is busy for `busy` after tick `busy_after`.
async fn ticks(behavior: MissedTickBehavior) -> Vec<Duration> {
    let start = Instant::now();
    let mut iv = time::interval(Duration::from_millis(100));
    iv.set_missed_tick_behavior(behavior);
    let mut out = Vec::new();
    for i in 0..6 {
        let t = iv.tick().await;
        out.push(t - start);
        if i == 1 {
            // The consumer stalls for 350 ms: ticks at 200, 300 and 400 ms are missed.
            time::advance(Duration::from_millis(350)).await;
        }
    }
    out
}

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|&m| Duration::from_millis(m)).collect()
}

#[kiln::test(start_paused = true)]
async fn interval_burst_catches_up_on_the_original_schedule() {
    // Tick 1 at 100; resumed at 450: 200, 300, 400 fire at once, then 500 on time.
    assert_eq!(ticks(MissedTickBehavior::Burst).await, ms(&[0, 100, 200, 300, 400, 500]));
}

#[kiln::test(start_paused = true)]
async fn interval_delay_restarts_from_the_late_tick() {
    // Resumed at 450: the late tick (scheduled 200) fires now, the next 100 ms after now.
    assert_eq!(ticks(MissedTickBehavior::Delay).await, ms(&[0, 100, 200, 550, 650, 750]));
}

#[kiln::test(start_paused = true)]
async fn interval_skip_drops_missed_ticks() {
    // Resumed at 450: the late tick fires now, then the next multiple of 100 ms: 500.
    assert_eq!(ticks(MissedTickBehavior::Skip).await, ms(&[0, 100, 200, 500, 600, 700]));
}

#[kiln::test(start_paused = true)]
async fn interval_is_a_stream_and_first_tick_is_immediate() {
    use futures::StreamExt;
    let start = Instant::now();
    let iv = time::interval_at(start + Duration::from_secs(1), Duration::from_secs(2));
    let got: Vec<Duration> = iv.take(3).map(|t| t - start).collect().await;
    assert_eq!(got, vec![Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(5)]);
    let mut iv = time::interval(Duration::from_secs(1));
    // The clock stands at 5 s (the last tick); a new interval's first tick is immediate.
    assert_eq!(iv.tick().await, start + Duration::from_secs(5));
    assert_eq!(iv.period(), Duration::from_secs(1));
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn interval_with_zero_period_panics() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let _ = time::interval(Duration::ZERO);
    });
}

#[test]
fn dropping_a_sleep_removes_its_timer() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let metrics = kiln::runtime::Handle::current().metrics();
            let mut sleeps: Vec<_> =
                (0..50).map(|i| Box::pin(time::sleep(Duration::from_secs(100 + i)))).collect();
            for s in sleeps.iter_mut() {
                assert!(futures::poll!(s.as_mut()).is_pending());
            }
            assert_eq!(metrics.active_timers(), 50, "{name}");
            drop(sleeps);
            assert_eq!(metrics.active_timers(), 0, "{name}: cancel on drop");
        });
    }
}

#[test]
fn a_never_polled_timeout_costs_no_timer() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        for i in 0..1000 {
            assert_eq!(time::timeout(Duration::from_secs(1), async { i }).await.unwrap(), i);
        }
        assert_eq!(kiln::runtime::Handle::current().metrics().active_timers(), 0);
    });
}

#[test]
fn a_timer_inserted_while_the_driver_sleeps_wakes_it_early() {
    // One worker parks in the driver with a far timer; a thread outside the runtime then
    // needs a short one. The insert must unpark the driver, or the near timer would wait an
    // hour. A watchdog turns that hang into a failure.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let _far = rt.spawn(async { time::sleep(Duration::from_secs(3600)).await });
        std::thread::sleep(Duration::from_millis(20)); // let the worker park in the driver
        let near = rt.spawn(async { time::sleep(Duration::from_millis(10)).await });
        rt.block_on(near).unwrap();
        let _ = done_tx.send(());
        rt.shutdown_background();
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the near timer never fired: inserting it did not wake the parked driver");
}

#[test]
#[should_panic(expected = "requires the current_thread runtime")]
fn pause_on_multi_thread_panics() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    rt.block_on(async { time::pause() });
}
