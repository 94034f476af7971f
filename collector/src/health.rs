//! The health of the background jobs, as `/readyz` reads it: each job
//! reports every step it completes, fails or misses, and a long step
//! reports its progress; a job that shows no life (no completed step, no
//! progress) within its deadline is unhealthy — stuck, or its task died —
//! and so is the collector. What a job records is shown to anyone who asks
//! `/readyz`: a class of error, never a store's internals.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// The jobs' health, shared by the supervisor and `/readyz`.
#[derive(Debug, Default)]
pub(crate) struct Health {
    jobs: Mutex<BTreeMap<&'static str, Record>>,
}

#[derive(Debug, Clone)]
struct Record {
    every: Duration,
    deadline: Duration,
    last_alive: Instant,
    runs: u64,
    failures: u64,
    missed: u64,
    last_error: Option<String>,
    done: bool,
    stopped: bool,
    lease: Option<&'static str>,
}

/// One job's health, as `/readyz` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JobReport {
    /// The job.
    pub(crate) name: &'static str,
    /// Whether it completed a step within its deadline (or finished its work).
    pub(crate) healthy: bool,
    /// Its period, ms.
    pub(crate) every_ms: u64,
    /// Steps completed, successful or not.
    pub(crate) runs: u64,
    /// Steps that failed.
    pub(crate) failures: u64,
    /// Periods skipped because a step ran past its period.
    pub(crate) missed: u64,
    /// The class of the last failure (never a store's internals), until a
    /// step succeeds.
    pub(crate) last_error: Option<String>,
    /// Time since the job last showed life (a completed step or progress), ms.
    pub(crate) since_alive_ms: u64,
    /// Whether the job finished its work (it runs no more, healthily).
    pub(crate) done: bool,
    /// For a job that runs on one collector at a time: `held` (this
    /// collector runs it) or `standby` (another does; this one takes over
    /// if that one stops).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lease: Option<&'static str>,
}

/// A job's handle on its own health record.
#[derive(Debug, Clone)]
pub(crate) struct Beat {
    health: Arc<Health>,
    name: &'static str,
}

impl Health {
    /// Registers a job that steps every `every` and is unhealthy when no
    /// step completes within `deadline`.
    pub(crate) fn register(
        self: &Arc<Self>,
        name: &'static str,
        every: Duration,
        deadline: Duration,
    ) -> Beat {
        let record = Record {
            every,
            deadline,
            last_alive: Instant::now(),
            runs: 0,
            failures: 0,
            missed: 0,
            last_error: None,
            done: false,
            stopped: false,
            lease: None,
        };
        self.lock().insert(name, record);
        Beat {
            health: Arc::clone(self),
            name,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Record>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every job's health, by name.
    pub(crate) fn report(&self) -> Vec<JobReport> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, r)| {
                let since = now.saturating_duration_since(r.last_alive);
                JobReport {
                    name,
                    healthy: r.done || (!r.stopped && since <= r.deadline),
                    every_ms: r.every.as_millis() as u64,
                    runs: r.runs,
                    failures: r.failures,
                    missed: r.missed,
                    last_error: r.last_error.clone(),
                    since_alive_ms: since.as_millis() as u64,
                    done: r.done,
                    lease: r.lease,
                }
            })
            .collect()
    }

    /// The jobs that are not healthy.
    pub(crate) fn unhealthy(&self) -> Vec<JobReport> {
        self.report().into_iter().filter(|j| !j.healthy).collect()
    }
}

impl Beat {
    fn update(&self, f: impl FnOnce(&mut Record)) {
        if let Some(r) = self.health.lock().get_mut(self.name) {
            f(r);
        }
    }

    /// A step succeeded.
    pub(crate) fn ok(&self) {
        self.update(|r| {
            r.runs += 1;
            r.last_alive = Instant::now();
            r.last_error = None;
        });
    }

    /// A step failed with `error`.
    pub(crate) fn failed(&self, error: String) {
        self.update(|r| {
            r.runs += 1;
            r.failures += 1;
            r.last_alive = Instant::now();
            r.last_error = Some(error);
        });
    }

    /// What a step uses to report progress.
    pub(crate) fn progress(&self) -> Progress {
        Progress(self.clone())
    }

    /// `n` periods were skipped by a step that overran.
    pub(crate) fn missed(&self, n: u64) {
        self.update(|r| r.missed += n);
    }

    /// A singleton job holds its lease: its steps run here.
    pub(crate) fn holding(&self) {
        self.update(|r| r.lease = Some("held"));
    }

    /// A singleton job whose lease another collector holds: alive (it
    /// checks the lease every renewal period), no step run.
    pub(crate) fn standby(&self) {
        self.update(|r| {
            r.lease = Some("standby");
            r.last_alive = Instant::now();
        });
    }

    /// The job finished its work for good.
    pub(crate) fn done(&self) {
        self.update(|r| {
            r.done = true;
            r.last_alive = Instant::now();
        });
    }

    /// The job's loop ended without finishing its work (shutdown, or its
    /// task panicked): unhealthy from now on.
    pub(crate) fn stopped(&self) {
        self.update(|r| r.stopped = true);
    }
}

/// A step's handle to say it is making progress: a long step (a flush of
/// many names) is alive, not stuck.
#[derive(Debug, Clone)]
pub(crate) struct Progress(Beat);

impl Progress {
    /// The step did a unit of work.
    pub(crate) fn alive(&self) {
        self.0.update(|r| r.last_alive = Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_job_without_a_step_past_its_deadline_is_unhealthy() {
        let h = Arc::new(Health::default());
        let beat = h.register("flush", Duration::from_secs(10), Duration::from_secs(60));
        assert!(h.unhealthy().is_empty());
        tokio::time::advance(Duration::from_secs(59)).await;
        beat.failed("store down".into());
        tokio::time::advance(Duration::from_secs(59)).await;
        let r = &h.report()[0];
        assert!(r.healthy, "a failing step still proves the loop runs");
        assert_eq!((r.runs, r.failures), (1, 1));
        assert_eq!(r.last_error.as_deref(), Some("store down"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(h.unhealthy()[0].name, "flush");
        beat.ok();
        beat.missed(2);
        let r = &h.report()[0];
        assert!(r.healthy && r.last_error.is_none());
        assert_eq!((r.runs, r.missed), (2, 2));
        tokio::time::advance(Duration::from_secs(59)).await;
        beat.progress().alive();
        tokio::time::advance(Duration::from_secs(59)).await;
        let r = &h.report()[0];
        assert!(r.healthy, "a long step that makes progress is alive");
        assert_eq!((r.runs, r.since_alive_ms), (2, 59_000));
        beat.stopped();
        assert!(!h.report()[0].healthy, "a loop that ended is unhealthy");

        let once = h.register("indexes", Duration::from_secs(10), Duration::from_secs(60));
        once.done();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            h.unhealthy().iter().map(|j| j.name).collect::<Vec<_>>(),
            ["flush"],
            "a job that finished its work stays healthy"
        );
    }
}
