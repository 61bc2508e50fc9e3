//! The thin binary: parse arguments, set up logging, run, print, exit 0/1/2.

use clap::Parser;
use pgwarden::cli::{Cli, LogFormat};
use pgwarden::escape::terminal;
use pgwarden::report::Screen;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = Cli::parse();
    if let Some(generated) = pgwarden::cli::generated(&cli) {
        return match generated {
            Ok(bytes) => match print(&bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write to stdout: {e}");
                    ExitCode::from(2)
                }
            },
            Err(e) => {
                eprintln!("error: {}", terminal(&format!("{e:#}")));
                ExitCode::from(2)
            }
        };
    }
    init_tracing(&cli);
    let settings = pgwarden::cli::settings::from_args(&cli.global);
    let mut confirm = |question: &str| ask(question, settings.interactive);
    match pgwarden::cli::run(&cli, &settings, &mut confirm) {
        Ok(report) => {
            if let Err(e) = print(report.render(settings.format, &screen(&cli)).as_bytes()) {
                // The run is done (and may have changed things): say so, exit 2.
                eprintln!(
                    "error: cannot write the results to stdout: {e} (the command itself finished with exit {})",
                    report.exit_code()
                );
                return ExitCode::from(2);
            }
            if let Some(msg) = report.notice() {
                eprintln!("{}", terminal(&msg));
            }
            if let Some(msg) = report.error_message() {
                eprintln!("error: {}", terminal(&msg));
            }
            ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {}", terminal(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

/// Writes `bytes` to stdout. A closed pipe (`pgwarden ... | head`) is the reader's choice, not
/// an error; any other failure (a full disk) is.
fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The reader's screen: colour only on a terminal without `NO_COLOR`; tables fit `COLUMNS`,
/// else the terminal's width (no limit in a pipe or file).
fn screen(cli: &Cli) -> Screen {
    let tty = std::io::stdout().is_terminal();
    let terminal = tty
        .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .flatten();
    Screen {
        colour: tty && std::env::var_os("NO_COLOR").is_none(),
        width: Screen::width_from(std::env::var("COLUMNS").ok().as_deref(), terminal),
        verbose: cli.global.verbose,
    }
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Log lines carry names from the catalog and other sessions' queries: each line goes out
    // cleaned of control characters, so a name can neither forge a line nor drive the terminal
    // (hence no ANSI colours in logs either).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| CleanStderr)
        .with_ansi(false);
    match cli.global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// stderr for log lines: tracing writes one whole line per call; inside it every control
/// character (a newline included) is written as a visible escape, the final newline kept.
struct CleanStderr;

impl Write for CleanStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let clean = format!("{}{end}", pgwarden::escape::inline(line));
        std::io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Asks a yes/no question on the terminal; `false` when there is no terminal to ask.
fn ask(question: &str, interactive: bool) -> bool {
    if !interactive {
        return false;
    }
    eprint!("{} [y/N] ", terminal(question));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// One glibc malloc arena for the whole process. `plan` reads the live catalog on a second
/// thread while it loads the desired one, and a second arena kept 9 MB more resident at 40,000
/// indexes (103 MB against 94 MB peak); pgwarden's threads wait on servers, not on malloc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    // SAFETY: mallopt only changes a malloc parameter; it runs before any thread is started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}
