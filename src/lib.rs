//! pgwarden keeps a PostgreSQL database's schema and indexes honest.
//!
//! Data flows one way: `cli` (clap) -> `cli::settings` -> `commands` (return a `Report`) ->
//! `report` (render). Pure modules (`sql`, `migrations::status`, `migrations::plan`) do no IO.

pub mod apply;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod db;
pub mod ephemeral;
pub mod migrations;
pub mod report;
pub mod sql;
