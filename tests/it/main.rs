//! Integration tests against a real PostgreSQL server (throwaway, started by the harness).

mod common;
mod migrate_apply;
