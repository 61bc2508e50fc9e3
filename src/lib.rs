//! pgwarden keeps a PostgreSQL database's schema and indexes honest.
//!
//! Data flows one way: `cli` (clap) -> `cli::settings` -> `commands` (return a `Report`) ->
//! `report` (render). Pure modules (`sql`, `migrations::status`, `migrations::plan`) do no IO.

pub mod advisor;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod commands;
pub mod datagen;
pub mod db;
pub mod diff;
pub mod ephemeral;
pub mod escape;
pub mod executor;
pub mod explain;
pub mod finding;
pub mod lint;
pub mod migrations;
pub mod policy;
pub mod report;
pub mod settings;
pub mod sql;
