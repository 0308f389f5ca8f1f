//! The `mmsg` command-line tool: a demo, a sender, a sink and a benchmark.

mod bench;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mmsg",
    version,
    about = "Send and receive many datagrams per system call"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark mmsg against other ways of sending datagrams.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Bench(args)) => bench::run(args),
        None => 0,
    };
    std::process::exit(code);
}
