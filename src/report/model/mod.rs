//! What each command reports: plain data that commands fill and the renderers read. Here, in
//! the report module, so that commands depend on report and never the other way.

mod advise;
mod apply;
mod check;
mod ci;
mod demo;
mod doctor;
mod fleet;
mod lint;
mod migrate;
mod plan;
mod reviewed;
mod watch;

pub use advise::AdviseReport;
pub use apply::ApplyChangesReport;
pub use check::{CheckReport, ReplicaCheck};
pub use ci::CiReport;
pub use demo::{Comparison, DemoReport, DemoSection};
pub use doctor::DoctorReport;
pub use fleet::{FleetReport, TargetRun};
pub use lint::LintReport;
pub use migrate::{NewReport, RecordReport, RecordRow, StatusReport, VerifyProblem, VerifyReport};
pub use plan::PlanReport;
pub use reviewed::{PlanVerdict, ReviewedApplyReport, Verified};
pub use watch::{ReplicaWatch, WatchReport};
