//! One module per subcommand. Commands orchestrate and return a report; they never print, and
//! know nothing of the command line (`cli` resolves it into settings and options, and calls
//! them).

pub mod advise;
pub mod apply;
pub mod apply_plan;
pub mod check;
pub mod ci;
pub mod data;
pub mod demo;
pub mod doctor;
pub mod fleet;
pub mod lint;
pub mod migrate;
pub mod plan;
pub mod replicas;
mod shadow;
pub mod watch;
