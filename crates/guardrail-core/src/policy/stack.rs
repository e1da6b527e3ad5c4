//! Running CEL work on a thread with a known, large stack.
//!
//! The `cel` parser and interpreter recurse on the expression tree; a long chain such as
//! `a + b + c ...` is as deep as it is long, and a 2 MiB stack (a tokio worker's default) is
//! not enough for some expressions the load-time limits still accept in a debug build. So the
//! policy engine compiles and evaluates on a scoped thread with [`STACK_BYTES`] of stack (virtual
//! memory, committed only as used). If the thread cannot be spawned the work runs inline.

/// The stack size of the thread that compiles and evaluates CEL.
pub const STACK_BYTES: usize = 64 * 1024 * 1024;

std::thread_local! {
    static BIG_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Declares that the calling thread was started with at least [`STACK_BYTES`] of stack (the
/// daemon's runtime threads are), so CEL work runs on it directly instead of on a new thread.
pub fn mark_big_stack_thread() {
    BIG_STACK.with(|b| b.set(true));
}

/// Runs `f` on a scoped thread with a large stack and returns its result; inline when the
/// calling thread has one already or when no thread can be started. A panic in `f` is resumed
/// on the caller's thread.
pub(crate) fn with_big_stack<T: Send, F: FnOnce() -> T + Send>(f: F) -> T {
    if BIG_STACK.with(|b| b.get()) {
        return f();
    }
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().ok().and_then(|mut s| s.take());
    let outcome = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("guardrail-cel".to_string())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || take().map(|f| f()));
        spawned.ok().map(|handle| match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    });
    match outcome {
        Some(Some(v)) => v,
        // The thread could not be started (out of threads or memory): run here.
        _ => match take() {
            Some(f) => f(),
            None => unreachable!("the closure runs at most once"),
        },
    }
}
