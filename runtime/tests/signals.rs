//! Signals delivered through the reactor. Each test raises a real signal in this process.

extern crate kiln_runtime as kiln;

use kiln::signal::unix::{signal, SignalKind};
use std::time::Duration;

fn raise(kind: SignalKind) {
    // SAFETY: raise(3) has no memory-safety preconditions; a handler is installed first.
    assert_eq!(unsafe { libc::raise(kind.as_raw_value()) }, 0);
}

#[test]
fn a_raised_signal_is_received_on_both_flavours() {
    for rt in [
        kiln::runtime::Builder::new_current_thread().build().unwrap(),
        kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap(),
    ] {
        rt.block_on(async {
            let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
            raise(SignalKind::user_defined1());
            let got = kiln::time::timeout(Duration::from_secs(10), usr1.recv()).await;
            assert_eq!(got.expect("SIGUSR1 was not delivered"), Some(()));
        });
    }
}

#[test]
fn only_deliveries_after_listening_count() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let mut first = signal(SignalKind::user_defined2()).unwrap();
        raise(SignalKind::user_defined2());
        first.recv().await;
        let mut late = signal(SignalKind::user_defined2()).unwrap();
        let r = kiln::time::timeout(Duration::from_millis(50), late.recv()).await;
        assert!(r.is_err(), "a listener created after a delivery must not see it");
    });
}

#[test]
fn ctrl_c_completes_on_sigint() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let waiter = kiln::spawn(kiln::signal::ctrl_c());
        // Let the waiter install its handler before raising.
        while kiln::runtime::Handle::current()
            .dump()
            .tasks()
            .iter()
            .all(|t| t.state != kiln::runtime::TaskState::Idle)
        {
            kiln::task::yield_now().await;
        }
        raise(SignalKind::interrupt());
        kiln::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("ctrl_c did not complete")
            .unwrap()
            .unwrap();
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let err = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("cannot be listened for"));
    });
}
