//! The churn section of the result, and its part of the verdict: dropped
//! connections not all back by the end fail the run (everything else
//! about churn is reported, not judged: see `results::churn`).

use super::super::plan::RunPlan;
use super::super::worker::WorkerResult;
use crate::results::churn::{ChurnCounts, ChurnResult};
use crate::results::outcome::Status;
use crate::results::schema::RunResult;

/// The workers' churn counts, summed.
pub(super) fn total(results: &[WorkerResult]) -> ChurnCounts {
    let mut sum = ChurnCounts::default();
    for r in results {
        sum.add(&r.churn);
    }
    sum
}

/// Adds the churn section to `result` (runs with churn only) and fails it
/// if connections were not back.
pub(super) fn judge(result: &mut RunResult, plan: &RunPlan, counts: &ChurnCounts) {
    let Some(churn) = &plan.churn else { return };
    let section = ChurnResult::new(counts, churn.outages.report(), result.timing.measured_s);
    let reasons = section.reasons();
    if !reasons.is_empty() {
        let o = &mut result.outcome;
        o.passed = false;
        o.status = Some(Status::Fail);
        o.reasons.extend(reasons);
    }
    result.churn = Some(section);
}
