//! The `weir` command: serve (default), check, backend, demo.

mod cli;

use std::process::ExitCode;

/// With the `mimalloc` feature (see `weir::rt::Allocator`): memory taken by a burst goes
/// back to the system after it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: weir::rt::Allocator = weir::rt::Allocator;

fn main() -> ExitCode {
    #[cfg(all(feature = "mimalloc", unix))]
    cli::alloc::tune();
    cli::main()
}
