//! Integration tests against a real PostgreSQL server (throwaway, started by the harness).

mod advise;
mod check;
mod cli;
mod common;
mod concurrency;
mod lint;
mod migrate_apply;
mod plan;
mod refinery_compat;
mod tls;
