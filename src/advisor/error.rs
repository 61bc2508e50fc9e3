//! Why the advisor gave no advice: no lab to prove candidates in, a workload it cannot time or
//! read, or a failed database call (with its PostgreSQL error kept).

use crate::check::CheckError;
use crate::db::DbError;
use crate::policy::ParamError;
use crate::sql::SplitError;

/// The advisor stopped without advice.
#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    /// Neither a shadow, a throwaway copy nor HypoPG in the target to prove candidates in.
    #[error(
        "advise needs somewhere to prove its candidates: pass --throwaway (a throwaway server filled with this database's schema and rows), --shadow-url URL (a copy of this database, never production), or install HypoPG in this database (`CREATE EXTENSION hypopg`)"
    )]
    HypoPgMissing,
    /// Timing a workload query failed; `reason` is the check's message for it.
    #[error("query `{query}`: {reason}")]
    Unmeasured {
        /// The query's name in the policy.
        query: String,
        /// The check's error message for it.
        reason: String,
    },
    /// A workload query came back from the check with neither a time nor an error.
    #[error("query `{0}` was not measured")]
    NotMeasured(String),
    /// The lab timed another number of queries than the workload has.
    #[error("the lab timed {timed} of the workload's {total} queries")]
    Incomplete {
        /// Queries the lab returned a time for.
        timed: usize,
        /// Queries in the workload.
        total: usize,
    },
    /// The lab was asked about the candidate in place, and none is.
    #[error("no candidate is in place")]
    NothingPlaced,
    /// A lab on a copy started without the live database was asked for live figures.
    #[error("this lab has no connection to the live database")]
    NoLiveDatabase,
    /// `[advise.writes_per_min]` names a table the advisor does not see.
    #[error(
        "policy [advise.writes_per_min] names table `{0}`, which is not a table in the target's search path; use the table's name as stored (case matters) or remove the entry"
    )]
    UnknownWriteTable(String),
    /// A workload query's parameters do not bind.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// Planning a workload query in the lab failed.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// Reading the target's catalog, or building, sizing or dropping a candidate in the lab.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A workload file that does not tokenize.
    #[error("{file}: {cause}")]
    WorkloadSyntax {
        /// The file's path as given, or `stdin`.
        file: String,
        /// Where and why the tokenizer stopped.
        cause: SplitError,
    },
    /// A workload file statement that changes data.
    #[error("{file}:{line}: only SELECT queries can be advised on")]
    WorkloadWrites {
        /// The file's path as given, or `stdin`.
        file: String,
        /// 1-based line where the statement starts.
        line: u64,
    },
    /// A workload file statement with `$n` parameters, which a SQL file cannot give values.
    #[error("{file}:{line}: $n parameters need values; use a policy file with `params`")]
    WorkloadParameters {
        /// The file's path as given, or `stdin`.
        file: String,
        /// 1-based line where the statement starts.
        line: u64,
    },
    /// A policy query that may write (`allow_writes = true`): advise times every workload
    /// query on the target, and a rolled-back write still moves sequences and fires triggers.
    #[error(
        "query `{0}` has allow_writes = true; advise runs every workload query on the target to time it and never runs a write there: give advise a policy without it (check can keep it)"
    )]
    PolicyWrites(String),
    /// A workload file without one statement.
    #[error("{0} holds no SQL statement; give it the SELECT queries to advise on")]
    WorkloadEmpty(String),
}
