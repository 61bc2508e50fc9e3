//! Integration tests against a real PostgreSQL server (throwaway, started by the harness).

mod advise;
mod apply_recovery;
mod architecture;
mod check;
mod check_safety;
mod cli;
mod common;
mod concurrency;
mod errors;
mod extensions;
mod hostile_names;
mod html;
mod kill;
mod least_privilege;
mod lint;
mod migrate_apply;
mod partitioned;
mod plan;
mod plan_convergence;
mod policy_path;
mod quoting;
mod refinery_compat;
mod sarif_schema;
mod terminal;
mod tls;
