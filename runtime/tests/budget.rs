//! Deadlines next to futures that spend the whole cooperative budget.
//!
//! A loop over a channel that is never empty never waits: every `recv` is ready, each spends
//! one unit of the task's budget, and when the budget is gone the loop is made to yield. A
//! timer checked *after* such a loop, in the same poll, finds no budget left either — so
//! unless the combinator checks its deadline outside the budget, it yields forever and the
//! deadline never fires. Each test runs under a watchdog (a hang is a failure) on every
//! runtime flavour, in a spawned task and in `block_on`.

use kiln_runtime::sync::mpsc;
use kiln_runtime::time;
use kiln_runtime::{select, spawn};
use std::future::Future;
use std::time::Duration;

use kiln_test_support::{runtimes, with_watchdog};

/// Never completes, and never waits: each turn receives what the last one sent.
async fn budget_hog() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(()).unwrap();
    loop {
        rx.recv().await;
        tx.send(()).unwrap();
    }
}

/// Runs `check` on every flavour, in `block_on` and in a spawned task, under a watchdog.
fn everywhere<F, Fut>(what: &'static str, check: F)
where
    F: Fn() -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_watchdog(what, move || {
        for (flavour, rt) in runtimes() {
            rt.block_on(check());
            rt.block_on(async move { spawn(check()).await.unwrap() });
            let _ = flavour;
        }
    });
}

#[test]
fn timeout_fires_around_a_future_that_spends_the_budget() {
    everywhere("timeout around a budget hog", || async {
        let r = time::timeout(Duration::from_millis(20), budget_hog()).await;
        assert!(r.is_err(), "the hog never completes: only the deadline can end it");
    });
}

#[test]
fn a_biased_select_still_sees_its_timer_after_a_hog_branch() {
    everywhere("biased select! with a hog first", || async {
        let fired = select! {
            biased;
            () = budget_hog() => false,
            () = time::sleep(Duration::from_millis(20)) => true,
        };
        assert!(fired);
    });
}

#[test]
fn an_interval_tick_in_select_beside_a_hog_arrives() {
    everywhere("interval tick beside a hog", || async {
        let mut interval = time::interval(Duration::from_millis(10));
        interval.tick().await; // the first tick is immediate
        let hog = std::pin::pin!(budget_hog());
        let mut hog = hog;
        for _ in 0..3 {
            select! {
                biased;
                () = &mut hog => unreachable!(),
                _ = interval.tick() => {}
            }
        }
    });
}

#[test]
fn join_next_under_a_timeout_with_a_hog_beside_it() {
    everywhere("timeout(join_next) beside a hog", || async {
        // A set whose only task never finishes, raced by a hog in the same task: the
        // deadline must still end the wait.
        let mut set = kiln_runtime::task::JoinSet::new();
        set.spawn(std::future::pending::<()>());
        let waited = time::timeout(Duration::from_millis(20), async {
            select! {
                biased;
                () = budget_hog() => None,
                r = set.join_next() => r.map(|_| ()),
            }
        })
        .await;
        assert!(waited.is_err());
        set.abort_all();
    });
}

#[test]
fn with_one_unit_grants_exactly_one_step() {
    // A branch polled after the budget is gone gets one unit: a hog polled that way makes
    // one step and yields; it does not run unbounded, and the budget stays spent.
    let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        std::future::poll_fn(|cx| {
            // Spend the whole budget within this one poll.
            let mut spent = 0;
            while std::pin::pin!(rx.recv()).poll(cx).is_ready() {
                spent += 1;
            }
            assert!(spent > 0 && !kiln_runtime::__private::has_budget_remaining());
            let mut received = 0;
            for _ in 0..5 {
                kiln_runtime::__private::with_one_unit(|| {
                    if std::pin::pin!(rx.recv()).poll(cx).is_ready() {
                        received += 1;
                    }
                    assert!(std::pin::pin!(rx.recv()).poll(cx).is_pending(), "only one unit");
                });
            }
            assert_eq!(received, 5, "one unit per grant");
            assert!(!kiln_runtime::__private::has_budget_remaining(), "the spent budget is put back");
            std::task::Poll::Ready(())
        })
        .await;
    });
}
