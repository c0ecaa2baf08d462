//! `OnceCell`: a value initialised once, by an async function, whoever asks first.

use super::semaphore::Semaphore;
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

/// A cell written at most once. Concurrent `get_or_init` calls run the initialiser once; the
/// others wait for it. If the initialising future is cancelled, the next caller tries again.
pub struct OnceCell<T> {
    value: OnceLock<T>,
    /// One permit: held by whoever is running the initialiser.
    init: Semaphore,
}

/// `set` failed.
#[derive(PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// Another task is initialising it right now.
    InitializingError(T),
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => f.write_str("AlreadyInitializedError(..)"),
            SetError::InitializingError(_) => f.write_str("InitializingError(..)"),
        }
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => f.write_str("cell already initialized"),
            SetError::InitializingError(_) => f.write_str("cell is being initialized"),
        }
    }
}

impl<T> std::error::Error for SetError<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub fn new() -> OnceCell<T> {
        OnceCell { value: OnceLock::new(), init: Semaphore::new(1) }
    }

    /// A cell holding `value` if it is `Some`.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        let cell = OnceCell::new();
        if let Some(v) = value {
            let _ = cell.value.set(v);
        }
        cell
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// True once a value is set.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// Sets the value if the cell is empty and nobody is initialising it.
    ///
    /// # Errors
    /// [`SetError`] with the value given back.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        let Ok(_permit) = self.init.try_acquire() else { return Err(SetError::InitializingError(value)) };
        self.value.set(value).map_err(SetError::AlreadyInitializedError)
    }

    /// The value, initialising it with `init` if empty. Only one initialiser runs at a time.
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self.get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(init().await) }).await {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`OnceCell::get_or_init`] with a fallible initialiser; on `Err` the cell stays
    /// empty and the error is returned.
    ///
    /// # Errors
    /// Whatever `init` returns.
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        // Dropped (released) on every exit, including cancellation of this future.
        let _permit = self.init.acquire().await.expect("a OnceCell's semaphore is never closed");
        if let Some(v) = self.get() {
            return Ok(v);
        }
        let value = init().await?;
        let _ = self.value.set(value);
        Ok(self.get().expect("just set"))
    }

    /// The value, consuming the cell.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.value.take()
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell").field("value", &self.get()).finish()
    }
}
