//! The `mmsg` command-line tool: a demo, a sender, a sink and a benchmark.

mod args;
mod bench;
mod demo;
mod send;
mod sink;
mod wire;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mmsg",
    version,
    about = "Send and receive many datagrams per system call",
    after_help = "With no command, runs `mmsg demo`.\n\nExamples:\n  \
        mmsg                                   # the demo\n  \
        mmsg sink --bind 127.0.0.1:5004 --output copy.bin\n  \
        mmsg send --to 127.0.0.1:5004 --file data.bin --size 1400 --rate 50000"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Stream an RTP-like video to receivers on loopback with fan-out (the default).
    Demo(demo::DemoArgs),
    /// Send a file or generated packets to one or many recipients.
    Send(send::SendArgs),
    /// Receive, report loss and reordering, and write the file that was sent.
    Sink(sink::SinkArgs),
    /// Benchmark mmsg against other ways of sending datagrams.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        None => demo::run(demo::DemoArgs::default_args()).map(|ok| if ok { 0 } else { 1 }),
        Some(Command::Demo(a)) => demo::run(a).map(|ok| if ok { 0 } else { 1 }),
        Some(Command::Send(a)) => send::run(a).map(|()| 0),
        Some(Command::Sink(a)) => sink::run(a).map(|()| 0),
        Some(Command::Bench(a)) => Ok(bench::run(a)),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(args::Fail(message)) => {
            eprintln!("mmsg: error: {message}");
            std::process::exit(2);
        }
    }
}
