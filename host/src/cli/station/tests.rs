//! Waking the station's wait: a wake-up sent just before the loop starts
//! waiting is not lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Cancel, Service};

/// A wait like `SCardGetStatusChange`: a cancel ends it only while it is
/// in progress.
#[derive(Clone, Default)]
struct Wait(Arc<(Mutex<(bool, bool)>, Condvar)>);

impl Wait {
    /// Waits (at most `limit`) for a cancel; whether one came.
    fn wait(&self, limit: Duration) -> bool {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        *state = (true, false);
        let (mut state, _) = cv.wait_timeout_while(state, limit, |s| !s.1).unwrap();
        let woken = state.1;
        *state = (false, false);
        woken
    }
}

impl Cancel for Wait {
    fn cancel(&self) {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        if state.0 {
            state.1 = true;
            cv.notify_all();
        }
    }
}

#[test]
fn a_wake_up_sent_before_the_wait_began_still_ends_it() {
    let wait = Wait::default();
    let service = Arc::new(Service::new(wait.clone()));
    let heard = Arc::new(AtomicBool::new(false));
    // The card run ends and wakes the station before it waits.
    let waker = {
        let (service, heard) = (Arc::clone(&service), Arc::clone(&heard));
        std::thread::spawn(move || service.wake_until(|| heard.load(Ordering::SeqCst)))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(wait.wait(Duration::from_secs(10)), "the wake-up was lost");
    heard.store(true, Ordering::SeqCst);
    waker.join().unwrap();
}

#[test]
fn waking_ends_once_heard_or_once_the_loop_is_over() {
    let service = Arc::new(Service::new(Wait::default()));
    // Heard at once: one cancel, no waiting.
    service.wake_until(|| true);
    // Never heard, but the loop ends.
    let waker = {
        let service = Arc::clone(&service);
        std::thread::spawn(move || service.wake_until(|| false))
    };
    std::thread::sleep(Duration::from_millis(60));
    assert!(!waker.is_finished());
    service.over.store(true, Ordering::SeqCst);
    waker.join().unwrap();
}
