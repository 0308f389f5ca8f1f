//! `mmsg bench`: placeholder until the benchmark lands.

/// Arguments of `mmsg bench`.
#[derive(clap::Args)]
pub struct BenchArgs {}

/// Runs the benchmark; returns the exit status.
pub fn run(_args: BenchArgs) -> i32 {
    eprintln!("mmsg bench: not implemented yet");
    2
}
