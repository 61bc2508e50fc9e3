//! Files generated from the command-line definitions themselves: shell completions
//! (clap_complete) and manual pages (clap_mangen), so they never drift from the parser.

use super::{Cli, Command};
use anyhow::Context;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

/// `pgwarden completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `pgwarden man [--dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write pgwarden.1 and one page per command (pgwarden-migrate-apply.1, ...) here instead
    /// of pgwarden(1) on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// What the `completions` and `man` commands print: `None` for every other command (they
/// run against a database and return a report). Pages written to `--dir` are listed, one path
/// per line.
pub fn generated(cli: &Cli) -> Option<anyhow::Result<Vec<u8>>> {
    match &cli.command {
        Command::Completions(args) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "pgwarden", &mut out);
            Some(Ok(out))
        }
        Command::Man(args) => Some(man(args)),
        _ => None,
    }
}

/// The page names clap_mangen gives `cmd` and its visible subcommands (`pgwarden-migrate-apply`).
fn page_names(cmd: &clap::Command, out: &mut Vec<String>) {
    out.push(cmd.get_display_name().unwrap_or(cmd.get_name()).to_string());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, out);
    }
}

fn man(args: &ManArgs) -> anyhow::Result<Vec<u8>> {
    let command = Cli::command();
    let mut out = Vec::new();
    match &args.dir {
        None => clap_mangen::Man::new(command).render(&mut out)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command.clone(), dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
            // Only the pages written here, not whatever else the directory holds.
            let mut built = command.disable_help_subcommand(true);
            built.build();
            let mut pages = Vec::new();
            page_names(&built, &mut pages);
            pages.sort();
            for name in pages {
                let path = dir.join(format!("{name}.1"));
                out.extend_from_slice(format!("{}\n", path.display()).as_bytes());
            }
        }
    }
    Ok(out)
}
