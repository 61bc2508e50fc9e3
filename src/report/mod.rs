//! The only place that writes results: human tables (tabled) and JSON with a `schema_version`.

mod doctor;
mod fleet;
mod format;
mod html;
mod human;
mod indexes;
mod junit;
mod lint;
mod migrate;
pub mod model;
mod reviewed;
mod screen;
mod table;
mod watch;

pub use html::html;
pub use junit::junit;

use crate::datagen::GenerateReport;
use crate::migrations::runner::ApplyReport;
pub use format::{Format, LintFormat};
pub use model::*;
pub use screen::Screen;
use serde::Serialize;

/// Version of the JSON output; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of a command.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Report {
    /// `migrate status`: exit 1 when a migration or an INVALID index needs attention.
    MigrateStatus(StatusReport),
    /// `migrate apply` (or its dry run): exit 2 when a migration failed.
    MigrateApply(ApplyReport),
    /// `migrate verify`: exit 1 on any changed or missing file.
    MigrateVerify(VerifyReport),
    /// `migrate new`: the file written.
    MigrateNew(NewReport),
    /// `migrate baseline`: exit 2 when the rows shown were not confirmed.
    MigrateBaseline(RecordReport),
    /// `migrate repair`: exit 2 when the rows shown were not confirmed.
    MigrateRepair(RecordReport),
    /// `check`: exit 1 when a query is over budget, 2 when one could not be measured.
    Check(CheckReport),
    /// `advise`: exit 1 when there are proposals.
    Advise(AdviseReport),
    /// `plan`: exit 1 when there is a change to make or a warning.
    Plan(PlanReport),
    /// `lint`: exit 1 at or above `--fail-on`, 2 on SQL that does not parse.
    Lint(LintReport),
    /// `ci`: the worst exit code of its steps.
    Ci(CiReport),
    /// `apply`: exit 1 when a change was skipped, 2 when its migration failed.
    Apply(ApplyChangesReport),
    /// `apply --plan FILE`: exit 2 when the database no longer matches the plan's fingerprint
    /// or its migration failed; 0 when applied or already applied.
    ApplyPlan(ReviewedApplyReport),
    /// `data generate`: always exit 0.
    DataGenerate(GenerateReport),
    /// `demo`: exit 1 when the workload is still over budget after the fix, 2 when a step failed.
    Demo(DemoReport),
    /// A command run on a fleet (`--targets`): the worst exit code of its targets.
    Fleet(FleetReport),
    /// `doctor`: exit 1 when a command cannot run fully.
    Doctor(DoctorReport),
    /// `watch`: with `--once`, exit 1 when the sample found something.
    Watch(WatchReport),
}

#[derive(Serialize)]
struct Envelope<'a> {
    schema_version: u32,
    #[serde(flatten)]
    report: &'a Report,
}

impl Report {
    /// 0 clean, 1 findings, 2 error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Report::MigrateStatus(r) => u8::from(r.needs_attention()),
            Report::MigrateApply(r) => {
                if r.failure.is_some() {
                    2
                } else {
                    0
                }
            }
            Report::MigrateVerify(r) => u8::from(!r.problems.is_empty()),
            Report::MigrateNew(_) => 0,
            Report::MigrateBaseline(r) | Report::MigrateRepair(r) => {
                if r.written || r.rows.is_empty() { 0 } else { 2 }
            }
            Report::Check(r) => r.exit_code(),
            Report::DataGenerate(_) => 0,
            // Proposals are findings: there is something to do.
            Report::Advise(r) => u8::from(!r.advice.proposals.is_empty()),
            Report::Plan(r) => r.exit_code(),
            Report::Lint(r) => r.exit_code(),
            Report::Ci(r) => r.exit_code(),
            Report::Apply(r) => {
                if r.run.as_ref().is_some_and(|run| run.failure.is_some()) {
                    2
                } else if r.dry_run {
                    r.plan.exit_code()
                } else {
                    u8::from(!r.skipped.is_empty())
                }
            }
            Report::ApplyPlan(r) => r.exit_code(),
            Report::Demo(r) => r.exit_code(),
            Report::Doctor(r) => r.exit_code(),
            Report::Watch(r) => r.exit_code(),
            Report::Fleet(r) => r.exit_code(),
        }
    }

    /// A message for stderr when the command did not do its job.
    pub fn error_message(&self) -> Option<String> {
        match self {
            Report::MigrateApply(r) => r.failure.as_ref().map(|f| f.error.clone()),
            Report::Apply(r) => r
                .run
                .as_ref()
                .and_then(|run| run.failure.as_ref())
                .map(|f| f.error.clone()),
            Report::ApplyPlan(r) => r.error_message(),
            Report::Lint(r) if r.exit_code() == 2 => Some(
                "some SQL does not parse (see the syntax-error findings); fix it before linting the rest".into(),
            ),
            Report::Check(r) if r.errors > 0 => Some(format!(
                "{} workload quer{} could not be measured; see the error column",
                r.errors,
                if r.errors == 1 { "y" } else { "ies" }
            )),
            Report::MigrateBaseline(r) | Report::MigrateRepair(r)
                if !r.written && !r.rows.is_empty() =>
            {
                Some(format!(
                    "{} wrote nothing: confirm at the prompt or pass --yes to write the rows shown",
                    r.action
                ))
            }
            Report::Fleet(r) if r.exit_code() == 2 => Some(format!(
                "{} target(s) failed, {} interrupted, {} not started{}",
                r.count(crate::fleet::ledger::Outcome::Failed),
                r.count(crate::fleet::ledger::Outcome::Interrupted),
                r.count(crate::fleet::ledger::Outcome::NotStarted),
                r.stopped
                    .as_ref()
                    .map_or(String::new(), |s| format!(" ({s})"))
            )),
            _ => None,
        }
    }

    /// A line for stderr when the command stopped short by the user's choice or for want of a
    /// confirmation: not an error (exit 1), but it says what was skipped and how to go on.
    pub fn notice(&self) -> Option<String> {
        match self {
            Report::Apply(r) if !r.dry_run && !r.skipped.is_empty() => {
                let mut reasons: Vec<(&str, usize)> = Vec::new();
                for (_, why) in &r.skipped {
                    match reasons.iter_mut().find(|(w, _)| *w == why.as_str()) {
                        Some((_, n)) => *n += 1,
                        None => reasons.push((why, 1)),
                    }
                }
                let reasons: Vec<String> = reasons
                    .iter()
                    .map(|(why, n)| format!("{n} {why}"))
                    .collect();
                Some(format!(
                    "skipped {} of {} change(s) ({}); applied {}",
                    r.skipped.len(),
                    r.skipped.len() + r.accepted.len(),
                    reasons.join("; "),
                    r.accepted.len()
                ))
            }
            _ => None,
        }
    }

    /// Renders for stdout; `screen` says whether colour is allowed (only on a terminal and never
    /// with NO_COLOR: the caller decides), the width to fit tables to, and the detail asked for.
    pub fn render(&self, format: Format, screen: &Screen) -> String {
        let mut format = format;
        if let Report::Lint(r) = self {
            let chosen = r.output_format.unwrap_or(match format {
                Format::Human => LintFormat::Human,
                Format::Json => LintFormat::Json,
            });
            match chosen {
                LintFormat::Human => return crate::escape::terminal(&lint::human(r)),
                LintFormat::Github => return lint::github(r),
                LintFormat::Sarif => return lint::sarif(r),
                LintFormat::Junit => return lint::junit(r),
                LintFormat::Json => format = Format::Json,
            }
        }
        match format {
            Format::Json => {
                let env = Envelope {
                    schema_version: SCHEMA_VERSION,
                    report: self,
                };
                serde_json::to_string_pretty(&env)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
                    + "\n"
            }
            // Data may hold any character: the text is cleaned of control characters, then
            // the renderer's colour markers become colour (or nothing).
            Format::Human => crate::escape::colourize(
                &crate::escape::terminal(&human::render(self, screen)),
                screen.colour,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
