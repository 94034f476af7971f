//! Background work, supervised. Each loop is a [`Job`]: a name, a period
//! and a step. The [`Supervisor`] runs each on its own task with one
//! cancellation token for all, records every step in the jobs' [`Health`]
//! (which `/readyz` reads), counts the periods a slow step made it miss,
//! and at shutdown cancels them, waits for each job's last step
//! ([`Job::finish`], e.g. the final catalog flush) up to a deadline, and
//! only then aborts what is left.
//!
//! A step may be cancelled at any `await` (shutdown does not wait for a
//! step stuck on an unreachable store), so every step must be
//! cancellation-safe: dropped half-way, it loses nothing and a later step
//! redoes what it did not finish.
//!
//! | job | module | what |
//! |---|---|---|
//! | `indexes` | `maintenance.rs` | creates the indexes when the store was not reachable at start, then ends |
//! | `catalog-flush` | `maintenance.rs` | writes the dimension catalog; once more at shutdown |
//! | `limits-prune` | `maintenance.rs` | forgets rate-limit keys whose buckets are full again |
//!
//! A job that must run on one collector at a time when several share a
//! store is spawned with [`Supervisor::spawn_singleton`] and a
//! [`Lease`](crate::lease::Lease): it steps only where the lease is held,
//! keeps it every third of its time to live (during a step too, and drops
//! the step if it is lost), shows `lease: held | standby` in `/readyz`, and
//! releases it at shutdown. Later issues add the rollup builder, the alert
//! evaluator and the spool replay here, the first two as singletons.

mod maintenance;
mod rollups;
#[cfg(test)]
mod rollups_tests;
#[cfg(test)]
mod singleton_tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::health::{Beat, Health, Progress};
use crate::lease::Lease;
pub(crate) use maintenance::{CatalogFlush, Indexes, LimitsPrune};
pub(crate) use rollups::{RollupBuilder, LEASE as ROLLUP_LEASE};

/// What a step says about the job's future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run again next period.
    Continue,
    /// The job's work is done; its loop ends.
    Done,
}

/// A background loop.
pub(crate) trait Job: Send + 'static {
    /// The job's name in logs and in `/readyz`.
    const NAME: &'static str;

    /// How often a step runs (the first one period after the start).
    fn every(&self) -> Duration;

    /// How long the job may go without completing a step or reporting
    /// progress before it counts as unhealthy. By default three periods and
    /// 30 s (a step may wait for an unreachable store for its timeout).
    fn deadline(&self) -> Duration {
        self.every() * 3 + Duration::from_secs(30)
    }

    /// One step; cancellation-safe (see the module docs). A long step calls
    /// `progress.alive()` as it works. An error is recorded as given —
    /// `/readyz` shows it to anyone, so it names a class of failure, never a
    /// store's internals (the job logs those) — and the job goes on.
    fn step(&mut self, progress: &Progress) -> impl Future<Output = Result<Step, String>> + Send;

    /// What to do once at shutdown, after the last step (default: nothing).
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs the jobs until shutdown.
#[derive(Debug)]
pub(crate) struct Supervisor {
    cancel: CancellationToken,
    health: Arc<Health>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Supervisor {
    /// A supervisor recording in `health`.
    pub(crate) fn new(health: Arc<Health>) -> Self {
        Self {
            cancel: CancellationToken::new(),
            health,
            tasks: Vec::new(),
        }
    }

    /// Starts `job` on its own task.
    pub(crate) fn spawn<J: Job>(&mut self, job: J) {
        let beat = self.health.register(J::NAME, job.every(), job.deadline());
        let cancel = self.cancel.child_token();
        let handle = tokio::spawn(run(job, cancel, beat, None));
        self.tasks.push((J::NAME, handle));
    }

    /// Starts `job` on its own task, on one collector at a time: its steps
    /// run only while `lease` is held here (taken at once if free, kept
    /// between and during steps, a step dropped if it is lost), and at
    /// shutdown the lease is released so another collector takes over at
    /// once.
    pub(crate) fn spawn_singleton<J: Job>(&mut self, job: J, lease: Lease) {
        let beat = self.health.register(J::NAME, job.every(), job.deadline());
        let cancel = self.cancel.child_token();
        let handle = tokio::spawn(run(job, cancel, beat, Some(lease)));
        self.tasks.push((J::NAME, handle));
    }

    /// Aborts every job at once, as if the process died: no last step, no
    /// release of a lease.
    #[cfg(test)]
    pub(crate) fn kill(self) {
        for (_, handle) in self.tasks {
            handle.abort();
        }
    }

    /// Cancels every job and waits until `deadline` for each to finish
    /// (its [`Job::finish`] included); aborts those still running then.
    pub(crate) async fn shutdown(self, timeout: Duration) {
        self.cancel.cancel();
        let deadline = Instant::now() + timeout;
        for (name, mut handle) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(job = name, error = %e, "job task failed"),
                Err(_) => {
                    tracing::warn!(
                        job = name,
                        "job did not stop within {timeout:?}; aborting it"
                    );
                    handle.abort();
                }
            }
        }
    }
}

/// Marks the job stopped when its loop ends, however it ends (a panic in
/// a step included), so `/readyz` never reports a dead job as healthy.
struct StopOnDrop(Beat);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopped();
    }
}

async fn run<J: Job>(mut job: J, cancel: CancellationToken, beat: Beat, mut lease: Option<Lease>) {
    let guard = StopOnDrop(beat);
    let beat = &guard.0;
    let progress = beat.progress();
    // A zero period would make the interval panic (the config rejects it).
    let every = job.every().max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    // A tick late for another reason (a busy runtime) runs once, not in a burst.
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // A singleton job keeps its lease between and during its steps, the
    // first time at once.
    let renew_every = lease
        .as_ref()
        .map_or(Duration::from_secs(3600), Lease::renew_every)
        .max(Duration::from_millis(1));
    let mut renew = tokio::time::interval(renew_every);
    renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
    'steps: loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = renew.tick(), if lease.is_some() => {
                if let Some(l) = lease.as_mut() {
                    keep::<J>(l, renew_every, beat).await;
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        if lease.as_ref().is_some_and(|l| !l.is_held()) {
            // Another collector runs it (or the store cannot say).
            continue;
        }
        let started = Instant::now();
        let outcome = {
            let step = job.step(&progress);
            tokio::pin!(step);
            loop {
                // The step may run until the lease's margin, not a moment
                // past it, whether renewals fail, hang or are late.
                let held_for = lease.as_ref().map_or(Duration::MAX, Lease::held_for);
                let lost = "lost its lease mid-step (another collector may hold it)";
                if held_for.is_zero() {
                    tracing::warn!(
                        job = J::NAME,
                        "lost the lease mid-step; the step is dropped"
                    );
                    break Err(lost.to_owned());
                }
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break 'steps,
                    // Before the step, so a busy step cannot starve renewals.
                    _ = renew.tick(), if lease.is_some() => {
                        if let Some(l) = lease.as_mut() {
                            keep::<J>(l, renew_every.min(held_for), beat).await;
                        }
                    }
                    // Dropped at its margin: steps are cancellation-safe, and
                    // the new holder redoes what this one did not.
                    () = tokio::time::sleep(held_for), if lease.is_some() => {}
                    outcome = &mut step => break outcome,
                }
            }
        };
        match outcome {
            Ok(Step::Continue) => beat.ok(),
            Ok(Step::Done) => {
                beat.done();
                tracing::debug!(job = J::NAME, "job done");
                release::<J>(&mut lease).await;
                return;
            }
            Err(e) => {
                tracing::debug!(job = J::NAME, error = %e, "job step failed; it runs again next period");
                beat.failed(e);
            }
        }
        // A step that ran past its period: the periods it covered are
        // counted as missed and skipped, the schedule stays aligned.
        let overran = (started.elapsed().as_nanos() / every.as_nanos().max(1)) as u32;
        if overran > 0 {
            tracing::warn!(
                job = J::NAME,
                missed = overran,
                "a step ran past its period"
            );
            beat.missed(u64::from(overran));
            tick.reset_at(started + every * (overran + 1));
        }
    }
    // A singleton job's last step runs only where it ran, and only while
    // the lease is still held.
    match lease.as_ref().map(Lease::held_for) {
        None => job.finish().await,
        Some(left) if !left.is_zero() => {
            if tokio::time::timeout(left, job.finish()).await.is_err() {
                tracing::warn!(job = J::NAME, "the last step ran past the lease; dropped");
            }
        }
        Some(_) => {}
    }
    release::<J>(&mut lease).await;
}

/// Renews or takes the lease, within one renewal period, and records what
/// this collector's part is now.
async fn keep<J: Job>(lease: &mut Lease, within: Duration, beat: &Beat) {
    let within = within.max(Duration::from_millis(1));
    let kept = tokio::time::timeout(within, lease.keep()).await;
    // What `/readyz` shows is whether this collector may step now.
    if lease.is_held() {
        beat.holding();
    } else {
        beat.standby();
    }
    match kept {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(job = J::NAME, error = %e, "cannot keep the lease");
            beat.failed(format!("cannot keep its lease: {}", e.class()));
        }
        Err(_) => {
            tracing::warn!(
                job = J::NAME,
                "the store did not answer the lease in {within:?}"
            );
            beat.failed("cannot keep its lease: the store did not answer in time".into());
        }
    }
}

/// Gives a singleton job's lease up, so another collector takes over at once.
async fn release<J: Job>(lease: &mut Option<Lease>) {
    if let Some(l) = lease.as_mut() {
        if let Err(e) = l.release().await {
            tracing::warn!(job = J::NAME, error = %e, "cannot release the lease; it expires in {:?}", l.ttl());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts steps; step 3 fails, step 4 sleeps past two periods.
    struct Counter {
        steps: Arc<AtomicU32>,
        finished: Arc<AtomicU32>,
    }

    impl Job for Counter {
        const NAME: &'static str = "counter";

        fn every(&self) -> Duration {
            Duration::from_secs(1)
        }

        async fn step(&mut self, _: &Progress) -> Result<Step, String> {
            let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
            match n {
                3 => Err("third".into()),
                4 => {
                    tokio::time::sleep(Duration::from_millis(2500)).await;
                    Ok(Step::Continue)
                }
                _ => Ok(Step::Continue),
            }
        }

        async fn finish(&mut self) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steps_failures_overruns_and_a_finish_at_shutdown() {
        let health = Arc::new(Health::default());
        let mut s = Supervisor::new(Arc::clone(&health));
        let (steps, finished) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        s.spawn(Counter {
            steps: Arc::clone(&steps),
            finished: Arc::clone(&finished),
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            0,
            "the first step is a period after the start"
        );
        // Steps at 1, 2, 3 (fails), 4 (until 6.5); 5 and 6 are skipped; then 7.
        tokio::time::sleep(Duration::from_millis(7000)).await;
        let r = &health.report()[0];
        assert_eq!(steps.load(Ordering::SeqCst), 5);
        assert_eq!((r.runs, r.failures, r.missed), (5, 1, 2));
        assert!(r.healthy && r.last_error.is_none());
        s.shutdown(Duration::from_secs(5)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        assert!(!health.report()[0].healthy, "stopped");
    }

    /// A step that never ends: cancelled at shutdown, then finished.
    struct Stuck(Arc<AtomicU32>);

    impl Job for Stuck {
        const NAME: &'static str = "stuck";

        fn every(&self) -> Duration {
            Duration::from_secs(1)
        }

        async fn step(&mut self, _: &Progress) -> Result<Step, String> {
            std::future::pending::<()>().await;
            Ok(Step::Continue)
        }

        async fn finish(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_step_is_cancelled_and_shows_as_unhealthy() {
        let health = Arc::new(Health::default());
        let mut s = Supervisor::new(Arc::clone(&health));
        let finished = Arc::new(AtomicU32::new(0));
        s.spawn(Stuck(Arc::clone(&finished)));
        tokio::time::sleep(Duration::from_secs(32)).await;
        assert!(health.report()[0].healthy, "within 3 periods + 30 s");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(health.unhealthy()[0].name, "stuck");
        let started = Instant::now();
        s.shutdown(Duration::from_secs(5)).await;
        assert!(started.elapsed() < Duration::from_secs(1), "not waited for");
        assert_eq!(finished.load(Ordering::SeqCst), 1);
    }

    /// A job whose finish never ends is aborted at the deadline.
    struct Hangs;

    impl Job for Hangs {
        const NAME: &'static str = "hangs";

        fn every(&self) -> Duration {
            Duration::from_secs(1)
        }

        async fn step(&mut self, _: &Progress) -> Result<Step, String> {
            Ok(Step::Done)
        }

        async fn finish(&mut self) {
            std::future::pending::<()>().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_is_bounded() {
        let mut s = Supervisor::new(Arc::new(Health::default()));
        s.spawn(Hangs);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = Instant::now();
        s.shutdown(Duration::from_secs(3)).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }
}
