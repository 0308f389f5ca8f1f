//! `mmsg sink`: receives numbered datagrams in batches, reports rate, loss and reordering,
//! and rebuilds a file that was sent.

use std::fs::OpenOptions;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mmsg::{Cancellable, Domain, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};

use crate::args::{self, fail, Context, Fail, EXIT_FAILED};
use crate::incoming::Incoming;
use crate::interrupt::{self, EXIT_INTERRUPTED};
use crate::{progress, units};

/// Buffers per receive call, each of 64 KiB: any UDP datagram fits, and so does what the
/// kernel coalesces with receive offload.
const BATCH: usize = 64;
/// Receive buffer asked for, so that bursts wait in the kernel instead of being dropped: a
/// sender at full speed outruns any sink that writes a file, by a factor of two or so on
/// loopback, so the queue must hold what a burst is ahead.
const RECEIVE_BUFFER: usize = 64 << 20;

const EXAMPLES: &str = "\
Examples:
  # Receive a file sent with `mmsg send --file`, give up after 5 s of silence:
  mmsg sink --bind 127.0.0.1:5004 --output copy.bin --timeout 5

  # Count 10 000 datagrams on any IPv6 address, on a port the OS picks:
  mmsg sink --bind [::]:0 --count 10000

The first line of output is `listening on ADDRESS`, with the port that was bound.

Loss, duplicates and reordering are tracked exactly over the last 16 777 216 sequence
numbers, in 2 MiB whatever arrives: a datagram further ahead of the highest number so far,
or one that comes after falling that far behind, is counted corrupt and discarded; a number
that falls that far behind without arriving is counted lost.";

/// Arguments of `mmsg sink`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct SinkArgs {
    /// Address to receive on, HOST:PORT (port 0: one the OS picks, printed on start)
    #[arg(long, value_name = "ADDR")]
    bind: String,
    /// Write the file that was sent here, a regular file (chunks go to their offset, whatever
    /// their order)
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Stop after this many datagrams
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds with nothing received [default: wait forever]
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// The largest file to accept: datagrams declaring a longer one are counted foreign and
    /// never size the output (K, M, G, T: powers of 1024)
    #[arg(long, value_name = "BYTES", default_value = "64G")]
    max_file_size: String,
}

/// Why receiving stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Complete,
    Count,
    Timeout,
    Interrupted,
}

pub fn run(args: SinkArgs) -> Result<i32, Fail> {
    let bind = args::address(&args.bind)?;
    let timeout = args
        .timeout
        .map(|t| args::seconds("--timeout", t))
        .transpose()?;
    if args.count == Some(0) {
        return fail("--count 0 would receive nothing");
    }
    let max_file_size = args::byte_size("--max-file-size", &args.max_file_size)?;
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, None)
        .context(|| "cannot open a UDP socket".into())?;
    // Best effort: past net.core.rmem_max where allowed (root), else cut to it.
    let _ = socket.set_receive_buffer_size(RECEIVE_BUFFER);
    socket
        .bind(&SockAddr::from(bind))
        .context(|| format!("cannot bind {bind}"))?;
    socket.set_timeout(timeout);
    // Coalesced receives where the kernel has them (Linux UDP); nothing changes elsewhere.
    let _ = socket.set_receive_offload(true);
    // After binding, so that a sink that cannot start leaves an existing file alone.
    let output = match &args.output {
        Some(path) => {
            let mut options = OpenOptions::new();
            let file = args::regular_file(path, options.write(true).create(true), "write")?;
            // Emptied only once it is known to be a regular file.
            file.set_len(0)
                .context(|| format!("cannot write {}", path.display()))?;
            Some((file, path.clone()))
        }
        None => None,
    };
    let local = socket
        .local_address()
        .context(|| "cannot read the bound address".into())?;
    // Before the first line: whoever reads it may interrupt at once.
    let cancel = interrupt::cancel_on_ctrl_c()?;
    match local.as_socket() {
        Some(address) => say!("listening on {address}"),
        None => say!("listening on {bind}"),
    }

    let mut incoming = Incoming::new(output, max_file_size);
    let (end, span) = receive(&socket, &mut incoming, args.count, &cancel)?;
    Ok(report(&incoming, end, span, timeout))
}

/// Receives until the stream is complete, `count` datagrams arrived, the timeout passed
/// with nothing received, or Ctrl-C. Returns why it stopped and the time from the first
/// datagram to the last.
fn receive(
    socket: &Socket,
    incoming: &mut Incoming,
    count: Option<u64>,
    cancel: &Cancellable,
) -> Result<(End, Duration), Fail> {
    // The zero-copy receive: coalesced buffers (with receive offload, where the kernel has
    // it) are walked in place, datagram by datagram.
    let mut batch = ReceiveBatch::new(BATCH, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
    let bar = progress::open_ended("receiving", "datagrams");
    let mut arrived: u64 = 0;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let end = loop {
        if incoming.complete() {
            break End::Complete;
        }
        if count.is_some_and(|c| arrived >= c) {
            break End::Count;
        }
        match socket.receive_batch(&mut batch, MsgFlags::empty(), Some(cancel)) {
            Ok(_) => {}
            Err(e) if mmsg::is_cancelled(&e) => break End::Interrupted,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => break End::Timeout,
            Err(e) => {
                bar.finish_and_clear();
                return Err(e).runtime_context(|| "receiving failed".into());
            }
        }
        last = Instant::now();
        first.get_or_insert(last);
        // Never count more than --count asks for: the rest of a batch is left unread.
        let limit = count.unwrap_or(u64::MAX);
        for (_, datagram) in batch.datagrams() {
            if arrived >= limit {
                break;
            }
            arrived += 1;
            if let Err(e) = incoming.accept(datagram) {
                bar.finish_and_clear();
                return Err(e);
            }
        }
        if let Err(e) = incoming.flush() {
            bar.finish_and_clear();
            return Err(e);
        }
        bar.set_position(arrived);
    };
    bar.finish_and_clear();
    Ok((end, first.map_or(Duration::ZERO, |f| last - f)))
}

/// Prints what arrived; returns the exit status.
fn report(incoming: &Incoming, end: End, span: Duration, timeout: Option<Duration>) -> i32 {
    let ended = matches!(end, End::Complete | End::Timeout);
    let lost = incoming.lost(ended);
    let t = &incoming.tally;
    match end {
        End::Complete => say!("stream complete"),
        End::Count => say!("received the datagrams asked for"),
        End::Timeout => say!(
            "nothing received for {:.1} s",
            timeout.unwrap_or_default().as_secs_f64()
        ),
        End::Interrupted => say!("interrupted"),
    }
    let received = format!(
        "received {} ({})",
        units::count(incoming.datagrams, "datagram"),
        units::bytes(incoming.bytes)
    );
    if span.is_zero() {
        say!("{received} in one batch");
    } else {
        say!(
            "{received} in {:.3} s: {:.0} datagrams/s, {}",
            span.as_secs_f64(),
            units::per_second(incoming.datagrams.saturating_sub(1), span),
            units::bit_rate(incoming.bytes, span),
        );
    }
    let of = match incoming.stream() {
        Some(s) if s.total > 0 => format!(" of {}", s.total),
        _ => String::new(),
    };
    say!(
        "unique {}{of}, lost {lost}, out of order {}, duplicates {}, corrupt {}, foreign {}",
        t.unique,
        t.out_of_order,
        t.duplicates,
        incoming.corrupt,
        incoming.foreign
    );
    if incoming.too_large > 0 {
        say!(
            "{} declared a file over --max-file-size ({} bytes): counted foreign",
            units::count(incoming.too_large, "datagram"),
            incoming.max_file_size
        );
    }
    if let Some((path, length)) = incoming.written() {
        let state = if incoming.complete() {
            "complete"
        } else {
            "INCOMPLETE"
        };
        say!("wrote {} ({length} bytes, {state})", path.display());
    } else if incoming.stream().is_some_and(|s| s.is_file()) {
        say!("a file was sent; give --output PATH to keep it");
    }
    // A corrupt datagram is discarded: it fails the run unless its chunk came again intact.
    let clean =
        incoming.datagrams > 0 && lost == 0 && (incoming.corrupt == 0 || incoming.complete());
    match end {
        End::Interrupted => EXIT_INTERRUPTED,
        _ if clean => 0,
        _ => EXIT_FAILED,
    }
}
