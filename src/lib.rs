//! pgwarden keeps a PostgreSQL database's schema and indexes honest.
//!
//! Data flows one way: `cli` (clap, resolved into `settings` and each command's options) ->
//! `commands` (orchestrate, return a report) -> `report` (the report types and their renderers)
//! -> the domain and IO modules below. Pure modules (`sql`, `escape`, `diff`, `explain`,
//! `migrations::status`, `migrations::plan`) do no IO. `tests/it/architecture.rs` checks the
//! direction and the file sizes.

#![warn(missing_docs)]

pub mod advisor;
pub mod cache;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod commands;
pub mod datagen;
pub mod db;
pub mod diff;
pub mod doctor;
pub mod ephemeral;
pub mod escape;
pub mod executor;
pub mod explain;
pub mod finding;
pub mod fleet;
pub mod lint;
pub mod migrations;
pub mod policy;
pub mod report;
pub mod reviewed;
pub mod rules;
pub mod settings;
pub mod sql;
pub mod statements;
pub mod units;
pub mod watch;
