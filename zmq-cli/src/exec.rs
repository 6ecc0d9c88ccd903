//! The three runtimes behind one switch: where sockets are created, and how a
//! future is driven to completion on each.

use std::future::Future;

use zmq_runtime::{Builder, Error, RuntimeKind, Socket};

/// `--runtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Tokio,
    /// tokio's default multi-thread runtime (what `#[tokio::main]` builds: a
    /// worker per core), to compare with the current-thread one; the
    /// measured loop runs in a task spawned on it, as an application's work
    /// does.
    TokioMt,
    /// The same runtime with the measured loop on the thread that blocks on
    /// it (`Runtime::block_on`), where code written straight in the body of
    /// `#[tokio::main]` runs: every hand-off to a stream's task crosses
    /// threads.
    TokioMtMain,
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
            "tokio-mt-main" => Ok(Self::TokioMtMain),
            "smol" => Ok(Self::Smol),
            "blocking" => Ok(Self::Blocking),
            other => Err(format!(
                "unknown --runtime '{other}' (tokio, tokio-mt, tokio-mt-main, smol or blocking)"
            )),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::TokioMt => "tokio-mt",
            Self::TokioMtMain => "tokio-mt-main",
            Self::Smol => "smol",
            Self::Blocking => "blocking",
        }
    }
}

/// Where a runtime's sockets live. For tokio, `driven` picks a current-thread
/// runtime that runs only while [`Exec::block_on`] does (the fastest for one
/// socket loop: the user code and the stream tasks share a thread), else a
/// multi-thread runtime that runs in the background while other threads block
/// on sockets. `tokio-mt` and `tokio-mt-main` are always tokio's default
/// multi-thread runtime.
pub(crate) struct Exec<K> {
    choice: Choice,
    tokio: Option<tokio::runtime::Runtime>,
    _kind: std::marker::PhantomData<fn() -> K>,
}

impl<K: RuntimeKind> Exec<K> {
    pub(crate) fn new(choice: Choice, driven: bool) -> Self {
        let tokio = matches!(
            choice,
            Choice::Tokio | Choice::TokioMt | Choice::TokioMtMain
        )
        .then(|| {
            let mut b = if matches!(choice, Choice::TokioMt | Choice::TokioMtMain) {
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

    /// Runs `f` to completion: on tokio's runtime (`tokio-mt`: as a task on
    /// it, so that it may share a worker with the socket's stream tasks
    /// instead of waking them across threads; `tokio-mt-main` and the
    /// current-thread runtime: on the thread that blocks on it), as a task
    /// of smol's executor (for the same reason), or by parking this thread
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
            (Some(rt), Choice::TokioMt) => std::thread::scope(|s| {
                s.spawn(|| rt.block_on(rt.spawn(f)))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            }),
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
            $crate::exec::Choice::Tokio
            | $crate::exec::Choice::TokioMt
            | $crate::exec::Choice::TokioMtMain => {
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
            $crate::exec::Choice::Tokio
            | $crate::exec::Choice::TokioMt
            | $crate::exec::Choice::TokioMtMain => {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each choice runs the measured loop: `tokio-mt` in a task on the
    /// runtime (beside the stream tasks), `tokio-mt-main` and the
    /// current-thread runtime on the thread blocked on it, never a task.
    #[test]
    fn tokio_choices_run_the_loop_where_they_say() {
        for (choice, in_task) in [
            (Choice::Tokio, false),
            (Choice::TokioMt, true),
            (Choice::TokioMtMain, false),
        ] {
            let exec = Exec::<runtime_tokio::Tokio>::new(choice, true);
            let got = exec.block_on(async {
                // A task of the runtime has an id; the future in `block_on`
                // does not.
                let flavor = tokio::runtime::Handle::current().runtime_flavor();
                (tokio::task::try_id().is_some(), flavor)
            });
            assert_eq!(got.0, in_task, "{}", choice.name());
            let multi = got.1 == tokio::runtime::RuntimeFlavor::MultiThread;
            assert_eq!(multi, choice != Choice::Tokio, "{}", choice.name());
        }
    }

    #[test]
    fn every_name_parses_back() {
        for c in [
            Choice::Tokio,
            Choice::TokioMt,
            Choice::TokioMtMain,
            Choice::Smol,
            Choice::Blocking,
        ] {
            assert_eq!(Choice::parse(c.name()), Ok(c));
        }
        let err = Choice::parse("tokio-multi").unwrap_err();
        assert!(
            err.contains("tokio-multi") && err.contains("tokio-mt-main"),
            "{err}"
        );
    }
}
