//! The three runtimes behind one switch: where sockets are created, and how a
//! future is driven to completion on each.

use std::future::Future;

use zmq_runtime::{Builder, Error, RuntimeKind, Socket};

/// `--runtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Tokio,
    /// tokio's default multi-thread runtime (what `#[tokio::main]` builds: a
    /// worker per core), to compare with the current-thread one.
    TokioMt,
    Smol,
    Blocking,
}

impl Choice {
    /// One per runtime crate: what `zmq bench` measures unless told.
    pub(crate) const ALL: [Self; 3] = [Self::Tokio, Self::Smol, Self::Blocking];

    /// Parses the option's value; the error names it.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "tokio" => Ok(Self::Tokio),
            "tokio-mt" => Ok(Self::TokioMt),
            "smol" => Ok(Self::Smol),
            "blocking" => Ok(Self::Blocking),
            other => Err(format!(
                "unknown --runtime '{other}' (tokio, tokio-mt, smol or blocking)"
            )),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::TokioMt => "tokio-mt",
            Self::Smol => "smol",
            Self::Blocking => "blocking",
        }
    }
}

/// Where a runtime's sockets live. For tokio, `driven` picks a current-thread
/// runtime that runs only while [`Exec::block_on`] does (the fastest for one
/// socket loop: the user code and the stream tasks share a thread), else a
/// multi-thread runtime that runs in the background while other threads block
/// on sockets. `tokio-mt` is always tokio's default multi-thread runtime.
pub(crate) struct Exec<K> {
    choice: Choice,
    tokio: Option<tokio::runtime::Runtime>,
    _kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: RuntimeKind> Exec<K> {
    pub(crate) fn new(choice: Choice, driven: bool) -> Self {
        let tokio = matches!(choice, Choice::Tokio | Choice::TokioMt).then(|| {
            let mut b = if choice == Choice::TokioMt {
                tokio::runtime::Builder::new_multi_thread()
            } else if driven {
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(1);
                b
            };
            b.enable_all().build().expect("a tokio runtime")
        });
        Self {
            choice,
            tokio,
            _kind: std::marker::PhantomData,
        }
    }

    /// Builds a socket inside the runtime's context.
    pub(crate) fn socket(&self, b: Builder<K>) -> Result<Socket<K>, Error> {
        let _ctx = self.tokio.as_ref().map(tokio::runtime::Runtime::enter);
        b.build_socket()
    }

    /// Runs `f` to completion: on tokio's runtime, as a task of smol's
    /// executor (so it shares the executor's thread with the socket's stream
    /// tasks instead of waking across threads), or by parking this thread
    /// (threads runtime).
    pub(crate) fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        match (&self.tokio, self.choice) {
            // On a thread of its own, as a runtime's workers are: glibc's
            // main-thread heap gives memory back to the OS eagerly, and the
            // page faults of getting it again halved 64 KiB throughput.
            (Some(rt), _) => std::thread::scope(|s| {
                s.spawn(|| rt.block_on(f))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
            (None, Choice::Smol) => smol::block_on(smol::spawn(f)),
            (None, _) => zmq_runtime::block_on_thread(f),
        }
    }

    /// As [`block_on`](Self::block_on), but `f` runs on the calling thread
    /// for every runtime: smol's global executor has a single thread, so two
    /// ends each given to it by [`block_on`](Self::block_on) would share one
    /// thread, while an inproc measurement wants one thread per end as
    /// libzmq's inproc_thr and inproc_lat have.
    pub(crate) fn block_on_here<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        match self.choice {
            Choice::Smol => smol::block_on(f),
            _ => self.block_on(f),
        }
    }
}

/// Calls `$body` with `$exec` bound to an [`Exec`] of the chosen runtime.
#[macro_export]
macro_rules! with_runtime {
    ($choice:expr, $driven:expr, |$exec:ident| $body:expr) => {
        match $choice {
            $crate::exec::Choice::Tokio | $crate::exec::Choice::TokioMt => {
                let $exec = $crate::exec::Exec::<runtime_tokio::Tokio>::new($choice, $driven);
                $body
            }
            $crate::exec::Choice::Smol => {
                let $exec = $crate::exec::Exec::<runtime_smol::Smol>::new($choice, $driven);
                $body
            }
            $crate::exec::Choice::Blocking => {
                let $exec = $crate::exec::Exec::<runtime_blocking::Threads>::new($choice, $driven);
                $body
            }
        }
    };
}

/// Evaluates `$body` with the type `$k` naming the chosen runtime's kind.
#[macro_export]
macro_rules! with_kind {
    ($choice:expr, $k:ident => $body:expr) => {
        match $choice {
            $crate::exec::Choice::Tokio | $crate::exec::Choice::TokioMt => {
                type $k = runtime_tokio::Tokio;
                $body
            }
            $crate::exec::Choice::Smol => {
                type $k = runtime_smol::Smol;
                $body
            }
            $crate::exec::Choice::Blocking => {
                type $k = runtime_blocking::Threads;
                $body
            }
        }
    };
}
