//! Ctrl-C: cancels the running query instead of killing the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weir::CancelHandle;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT handler (the line editor handles Ctrl-C itself while reading a line).
pub fn install() {
    let handler = on_sigint as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the function
    // pointer has the C ABI and signature `signal` expects.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

/// Whether Ctrl-C was pressed since the last [`reset`].
pub fn was_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Forgets an earlier Ctrl-C (the REPL does this before each statement).
pub fn reset() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// Cancels `query` when Ctrl-C is pressed, until the returned guard is dropped.
pub fn watch(query: CancelHandle) -> Watch {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            if was_interrupted() {
                query.cancel();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Watch { done }
}

/// Stops watching when dropped.
pub struct Watch {
    done: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}
