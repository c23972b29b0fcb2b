//! The `weir` command: serve (default), check, backend, demo.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
