//! The `mmsg` command-line tool: a demo, a sender, a sink, a relay and a benchmark.

/// Prints a line on stdout; a closed stdout (e.g. `| head`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

// The bench's C peers are built for Linux only, as the bench itself.
#[cfg(all(feature = "peers", not(target_os = "linux")))]
compile_error!(
    "the `peers` feature (the bench's C and GLib peers) is Linux-only, as `mmsg bench` is: \
     build without it on this OS"
);

mod args;
// The benchmark compares against Linux's own floors (sendmmsg, UDP GSO/GRO, SO_MEMINFO):
// elsewhere `mmsg bench` only says it is not available.
#[cfg(target_os = "linux")]
mod bench;
#[cfg(not(target_os = "linux"))]
#[path = "no_bench.rs"]
mod bench;
mod cidr;
mod cpu;
mod demo;
mod incoming;
mod interrupt;
mod pace;
mod platform;
mod progress;
mod relay;
mod send;
mod sink;
mod source;
mod tally;
mod units;
mod wire;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  mmsg                                              # the demo: a video fanned out to 4 receivers
  mmsg sink --bind 127.0.0.1:5004 --output copy.bin
  mmsg send --to 127.0.0.1:5004 --file original.bin --rate 20000
  mmsg relay --bind 0.0.0.0:5004 --to 192.0.2.10:5004,[2001:db8::7]:5004
  mmsg bench

Run `mmsg help COMMAND` for each command's options and examples.";

#[derive(Parser)]
#[command(
    name = "mmsg",
    // Not argv[0]'s name: on Windows that is mmsg.exe, and the help would say so.
    bin_name = "mmsg",
    version,
    about = "Send and receive many datagrams per system call",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Fan an RTP-like video out to receivers on loopback, with mmsg and with std (the default)
    Demo(demo::DemoArgs),
    /// Send a file or generated data in numbered datagrams to one or many recipients
    Send(send::SendArgs),
    /// Receive numbered datagrams: report rate, loss and reordering, rebuild a sent file
    Sink(sink::SinkArgs),
    /// Relay every datagram received on one address to many recipients, unchanged
    Relay(relay::RelayArgs),
    /// Benchmark mmsg against other ways of sending datagrams.
    #[cfg_attr(
        not(target_os = "linux"),
        command(about = "Benchmark mmsg against other ways of sending datagrams (Linux only)")
    )]
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        None => demo::run(demo::DemoArgs::default()),
        Some(Command::Demo(args)) => demo::run(args),
        Some(Command::Send(args)) => send::run(args),
        Some(Command::Sink(args)) => sink::run(args),
        Some(Command::Relay(args)) => relay::run(args),
        Some(Command::Bench(args)) => Ok(bench::run(args)),
    };
    let code = outcome.unwrap_or_else(|fail| {
        eprintln!("mmsg: error: {}", fail.message);
        fail.code
    });
    std::process::exit(code);
}
