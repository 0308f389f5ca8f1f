//! `mmsg send`: a file or generated data, in numbered datagrams, to one or many recipients.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use mmsg::{Cancellable, Domain, MsgFlags, Recipient, SockAddr, Socket, Type};

use crate::args::{self, fail, Context, Fail, EXIT_FAILED};
use crate::interrupt::{self, EXIT_INTERRUPTED};
use crate::pace::{self, Pacer};
use crate::source::Source;
use crate::wire::{self, Header};
use crate::{progress, units};

/// The most datagrams per `send_fanout` call.
const MAX_BATCH: usize = 64;

const EXAMPLES: &str = "\
Examples:
  # A file to a sink, 20 000 datagrams a second:
  mmsg sink --bind 127.0.0.1:5004 --output copy.bin
  mmsg send --to 127.0.0.1:5004 --file original.bin --rate 20000

  # 10 000 generated datagrams of 1400 bytes to three recipients at once:
  mmsg send --to 127.0.0.1:5004,127.0.0.1:5006,127.0.0.1:5008 --generate --size 1400 --count 10000

  # Generated data until Ctrl-C, 1000 datagrams a second:
  mmsg send --to [::1]:5004 --rate 1000

Each datagram starts with a 36-byte header (magic, flags, chunk size, sequence number, total,
file length) that `mmsg sink` reads to count loss and reordering and to rebuild the file.";

/// Arguments of `mmsg send`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct SendArgs {
    /// Where to send: HOST:PORT, or several separated by commas (each gets the whole stream)
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    to: String,
    /// Send this file (a regular file), cut into datagrams
    #[arg(long, value_name = "PATH", conflicts_with_all = ["generate", "count"])]
    file: Option<PathBuf>,
    /// Send generated data (the default without --file)
    #[arg(long)]
    generate: bool,
    /// Datagram size in bytes, the 36-byte header included
    #[arg(long, value_name = "B", default_value_t = 1200)]
    size: usize,
    /// Datagrams per second to each recipient [default: as fast as possible]
    #[arg(long, value_name = "PPS")]
    rate: Option<u64>,
    /// How many generated datagrams to send [default: until Ctrl-C]
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// What was sent to one recipient.
struct Sent {
    address: SocketAddr,
    datagrams: u64,
    bytes: u64,
    error: Option<String>,
}

pub fn run(args: SendArgs) -> Result<i32, Fail> {
    let destinations = args::destinations(&args.to)?;
    let size = args::datagram_size(args.size, wire::LEN)?;
    let chunk = size - wire::LEN;
    let rate = args.rate.map(args::rate).transpose()?;
    if args.count == Some(0) {
        return fail("--count 0 would send nothing");
    }
    let source = match &args.file {
        Some(path) => Source::file(path)?,
        None => Source::Generated { count: args.count },
    };
    let socket = open_socket(&destinations[0])?;
    let cancel = interrupt::cancel_on_ctrl_c()?;

    let total = source.total(chunk);
    let bar = match (&source, total) {
        (Source::File { length, .. }, _) => progress::bytes(*length, "sending"),
        (_, Some(total)) => progress::items(total, "sending", "datagrams"),
        (_, None) => progress::open_ended("sending", "datagrams"),
    };
    let started = Instant::now();
    let mut sent: Vec<Sent> = destinations
        .iter()
        .map(|&address| Sent {
            address,
            datagrams: 0,
            bytes: 0,
            error: None,
        })
        .collect();
    let outcome = stream(
        &socket, &source, chunk, total, rate, &mut sent, &cancel, &bar,
    );
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    outcome?;

    let interrupted = cancel.is_cancelled();
    let datagrams: u64 = sent.iter().map(|s| s.datagrams).sum();
    if interrupted {
        let most = sent.iter().map(|s| s.datagrams).max().unwrap_or(0);
        match total {
            Some(total) => say!("interrupted: sent {most} of {total} datagrams to each recipient"),
            None => say!("interrupted: sent {most} datagrams to each recipient"),
        }
    }
    say!(
        "sent {} ({}) to {} in {:.2} s: {:.0} datagrams/s, {}, {} ({:.3} per datagram)",
        units::count(datagrams, "datagram"),
        units::bytes(sent.iter().map(|s| s.bytes).sum()),
        units::count(sent.len() as u64, "recipient"),
        elapsed.as_secs_f64(),
        units::per_second(datagrams, elapsed),
        units::bit_rate(sent.iter().map(|s| s.bytes).sum(), elapsed),
        units::count(socket.syscall_count(), "send syscall"),
        units::ratio(socket.syscall_count(), datagrams),
    );
    for s in &sent {
        say!(
            "  {}: {}, {}{}",
            s.address,
            units::count(s.datagrams, "datagram"),
            units::bytes(s.bytes),
            s.error
                .as_ref()
                .map_or(String::new(), |e| format!(", stopped: {e}"))
        );
    }
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if sent.iter().any(|s| s.error.is_some()) {
        EXIT_FAILED
    } else {
        0
    })
}

/// A blocking UDP socket of `destination`'s family with a large send buffer.
fn open_socket(destination: &SocketAddr) -> Result<Socket, Fail> {
    let socket = Socket::new(Domain::for_address(*destination), Type::DGRAM, None)
        .context(|| "cannot open a UDP socket".into())?;
    // Best effort: fewer waits for room between batches.
    let _ = socket.as_socket2().set_send_buffer_size(4 << 20);
    Ok(socket)
}

/// Sends the stream, batch by batch, paced, until done, cancelled or every recipient failed.
#[allow(clippy::too_many_arguments)]
fn stream(
    socket: &Socket,
    source: &Source,
    chunk: usize,
    total: Option<u64>,
    rate: Option<u64>,
    sent: &mut [Sent],
    cancel: &Cancellable,
    bar: &ProgressBar,
) -> Result<(), Fail> {
    let batch = pace::batch_size(rate, MAX_BATCH);
    let pacer = Pacer::new(rate.map(|r| r as f64));
    let mut recipients: Vec<Recipient> = sent
        .iter()
        .map(|s| Recipient::new(SockAddr::from(s.address)))
        .collect();
    let mut headers: Vec<[u8; wire::LEN]> = Vec::with_capacity(batch);
    let mut data = vec![0u8; batch * chunk];
    let mut lens: Vec<usize> = Vec::with_capacity(batch);
    let mut next: u64 = 0;
    while total.is_none_or(|t| next < t) {
        let count = total.map_or(batch, |t| (t - next).min(batch as u64) as usize);
        if pacer.wait_for(next, Some(cancel)) {
            break;
        }
        headers.clear();
        lens.clear();
        for (i, payload) in data.chunks_mut(chunk).take(count).enumerate() {
            let header: Header = source.header(next + i as u64, chunk, total);
            lens.push(source.payload(&header, payload)?);
            headers.push(header.encode());
        }
        let packets: Vec<[IoSlice; 2]> = headers
            .iter()
            .zip(data.chunks(chunk))
            .zip(&lens)
            .map(|((h, d), &len)| [IoSlice::new(h), IoSlice::new(&d[..len])])
            .collect();
        for r in &mut recipients {
            r.packets_sent = 0;
        }
        match socket.send_fanout(&packets, &mut recipients, MsgFlags::empty(), Some(cancel)) {
            Ok(_) => {}
            Err(e) if mmsg::is_cancelled(&e) => break,
            Err(e) => return Err(e).runtime_context(|| "sending failed".into()),
        }
        for (r, s) in recipients.iter().zip(sent.iter_mut()) {
            s.datagrams += r.packets_sent as u64;
            s.bytes += lens[..r.packets_sent]
                .iter()
                .map(|&l| (wire::LEN + l) as u64)
                .sum::<u64>();
            if let (Some(e), None) = (&r.error, &s.error) {
                s.error = Some(e.to_string());
                bar.println(format!("{}: {e}; nothing more is sent there", s.address));
            }
        }
        if cancel.is_cancelled() || recipients.iter().all(|r| r.error.is_some()) {
            break;
        }
        next += count as u64;
        let done = match source {
            Source::File { .. } => lens.iter().map(|&l| l as u64).sum(),
            Source::Generated { .. } => count as u64,
        };
        bar.inc(done);
    }
    Ok(())
}
