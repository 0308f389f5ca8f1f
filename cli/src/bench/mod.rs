//! `mmsg bench`: packets per second of mmsg against other ways of sending and receiving,
//! as ratios measured in one invocation. In the send workloads, receivers on loopback never
//! read: the kernel drops what does not fit, so the figure is the sender's cost. In the
//! receive workload, each receiver drains a queue filled before its clock starts, so the
//! figure is the receiver's cost (see `receive`).

mod chart;
mod plan;
mod raw;
mod receive;
mod receivers;
mod relay;
mod senders;

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;

use plan::{Cell, Plan};

/// The most datagrams one run may have: a mixed run prepares everything before its clock
/// starts, up to about 230 bytes a datagram (quinn-udp or raw-gso with --batch 1: 240 MB at
/// this bound). Longer measurements take --repeat.
const MAX_COUNT: usize = 1_000_000;
/// The most messages one `sendmmsg` takes (the kernel's UIO_MAXIOV).
const MAX_BATCH: usize = 1024;
/// Receivers, a socket each (and with --batch, the messages of one fan-out call).
const MAX_DESTS: usize = 1024;

/// A failure to report: one line, exit status 2.
struct Fail(String);

fn fail<T>(message: impl std::fmt::Display) -> Result<T, Fail> {
    Err(Fail(message.to_string()))
}

/// Arguments of `mmsg bench`.
#[derive(clap::Args)]
#[command(
    after_help = "Senders: std (send_to per datagram, the baseline), mmsg (offload on), \
    mmsg-no-gso, mmsg-portable (sendmsg loop), quinn-udp (its GSO send), raw-sendmmsg and \
    raw-gso (libc with headers prepared once), c-sendmmsg and c-gso (the same in C), glib \
    (g_socket_send_messages, where GLib was found at build time).\n\n\
    Receivers (--workload receive): std (recv_from per datagram, the baseline), mmsg \
    (receive_batch with offload on, datagrams walked in place), mmsg-no-gro (receive_batch, \
    recvmmsg), mmsg-messages (receive_messages with offload on: GLib's API, copying), \
    mmsg-portable (recvmsg loop), quinn-udp (its GRO recv), c-recvmmsg and c-gro (recvmmsg, \
    and recvmsg with UDP_GRO walking the segments, in C), glib (g_socket_receive_messages). \
    Each receiver's queue is filled by a segmented sender before its drain is timed; --live \
    runs sender and receiver at once and reports the loss.\n\n\
    Examples:\n  \
    mmsg bench                                  # the whole grid: ratios to std, SVG chart\n  \
    mmsg bench --sender std,mmsg,c-gso --count 5000\n  \
    mmsg bench --workload mixed --sender mmsg --count 200000 --size 1200 --dests 8 --batch 64 --json\n  \
    mmsg bench --workload receive --receiver mmsg,c-gro,quinn-udp --size 1200 --count 200000 --repeat 5\n  \
    mmsg bench --workload receive --live --size 64 --count 200000"
)]
pub struct BenchArgs {
    /// `mixed` (datagram i to receiver i mod D), `fanout` (each packet to every
    /// receiver) or `receive` (receivers draining one sender's datagrams). Without it, the
    /// whole grid runs.
    #[arg(long)]
    workload: Option<String>,
    /// Senders to run, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    sender: Vec<String>,
    /// Receivers to run (receive workload), comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    receiver: Vec<String>,
    /// Receive workload: sender and receiver at once, both at full speed, reporting what
    /// arrived, instead of timing the drain of a queue filled beforehand.
    #[arg(long)]
    live: bool,
    /// Receive workload: the receive buffer to ask for, in bytes (default: 1 GiB for a
    /// drain, with SO_RCVBUFFORCE where permitted; 8 MiB live).
    #[arg(long)]
    rcvbuf: Option<usize>,
    /// Datagrams in all, at most 1000000 (default: 200000 for one cell, 20000 a cell in the
    /// grid).
    #[arg(long)]
    count: Option<usize>,
    /// Bytes per datagram.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Receivers, at most 1024.
    #[arg(long, default_value_t = 8)]
    dests: usize,
    /// Datagrams (mixed) or packets per receiver (fanout) per send call; messages per
    /// receive call (receive). At most 1024.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Relays to run with `--workload relay`, comma-separated (default: all of them: mmsg,
    /// and with the `peers` feature c-mmsg and c-gro-gso).
    #[arg(long, value_delimiter = ',')]
    relay: Vec<String>,
    /// Runs of each cell, senders (receivers, relays) interleaved; the best is kept (the
    /// median for relays).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Where the grid writes its chart.
    #[arg(long, default_value = "mmsg-bench.svg")]
    svg: PathBuf,
}

/// Runs the benchmark; returns the exit status.
pub fn run(args: BenchArgs) -> i32 {
    match bench(args) {
        Ok(()) => 0,
        Err(Fail(message)) => {
            eprintln!("mmsg: error: {message}");
            2
        }
    }
}

fn bench(a: BenchArgs) -> Result<(), Fail> {
    if a.size == 0 || a.size > 65_507 || a.dests == 0 || a.batch == 0 || a.repeat == 0 {
        return fail("--size must be 1..=65507 and --dests, --batch, --repeat at least 1");
    }
    if a.count == Some(0) {
        return fail("--count must be at least 1");
    }
    // Every cell's plan and messages are built in memory before it runs: bounded here, so
    // that a large value is an error instead of a capacity overflow or an allocation failure.
    if let Some(count) = a.count.filter(|&c| c > MAX_COUNT) {
        return fail(format!(
            "--count {count} is above {MAX_COUNT}, the most one run prepares in memory \
             (use --repeat to measure longer)"
        ));
    }
    if a.batch > MAX_BATCH {
        return fail(format!(
            "--batch {} is above {MAX_BATCH}, the most messages one sendmmsg takes",
            a.batch
        ));
    }
    if a.dests > MAX_DESTS {
        return fail(format!(
            "--dests {} is above {MAX_DESTS} (a socket each)",
            a.dests
        ));
    }
    let senders = choose(&a.sender, senders::all(), &senders::PEERS, "sender")?;
    let receivers = choose(&a.receiver, receivers::all(), &receivers::PEERS, "receiver")?;
    let receive = a.workload.as_deref() == Some("receive");
    if receive && !a.sender.is_empty() {
        return fail("--sender applies to the send workloads (receive takes --receiver)");
    }
    if a.workload.is_some() && !receive && !a.receiver.is_empty() {
        return fail("--receiver applies to --workload receive and the grid");
    }
    if !receive && (a.live || a.rcvbuf.is_some()) {
        return fail("--live and --rcvbuf apply to --workload receive");
    }
    match a.workload.as_deref() {
        Some("receive") => {
            let cells: Vec<receive::Cell> = receivers
                .iter()
                .map(|r| receive::Cell {
                    receiver: r,
                    count: a.count.unwrap_or(200_000),
                    size: a.size,
                    batch: a.batch,
                    live: a.live,
                    rcvbuf: a.rcvbuf,
                })
                .collect();
            for (cell, outcome) in cells
                .iter()
                .zip(receive::measure(&cells, a.repeat).map_err(Fail)?)
            {
                receive::print(cell, &outcome, a.json);
            }
            Ok(())
        }
        Some(w @ ("mixed" | "fanout")) => {
            let count = a.count.unwrap_or(200_000);
            let cells: Vec<Cell> = senders
                .iter()
                .map(|s| Cell {
                    workload: w,
                    sender: s,
                    count,
                    size: a.size,
                    dests: a.dests,
                    batch: a.batch,
                })
                .collect();
            for (cell, pps) in cells.iter().zip(measure(&cells, a.repeat)?) {
                print_cell(cell, pps, a.json);
            }
            Ok(())
        }
        Some("relay") => relay::run(
            &a.relay,
            a.count.unwrap_or(50_000),
            a.size,
            a.dests,
            a.repeat,
            a.json,
        )
        .map_err(Fail),
        Some(w) => fail(format!(
            "unknown workload '{w}' (known: mixed, fanout, receive, relay)"
        )),
        None => grid(
            &senders,
            &receivers,
            a.count.unwrap_or(20_000),
            a.batch,
            a.repeat,
            a.json,
            &a.svg,
        ),
    }
}

/// The `given` names among `known` (all of them when none is given), each once, in the
/// order given; an unknown one is an error naming those known, a C peer left out of this
/// build one saying how to get it.
fn choose(
    given: &[String],
    known: Vec<&'static str>,
    peers: &[&str],
    what: &str,
) -> Result<Vec<&'static str>, Fail> {
    let mut chosen: Vec<&'static str> = Vec::new();
    for s in given {
        match known.iter().find(|k| **k == s.as_str()) {
            Some(k) if !chosen.contains(k) => chosen.push(k),
            Some(_) => {}
            None if peers.contains(&s.as_str()) => {
                return fail(format!(
                    "{what} '{s}' is one of the C peers, which this build left out: \
                     install the CLI with `--features peers` (needs a C compiler; GLib's \
                     development files for glib)"
                ))
            }
            None => {
                return fail(format!(
                    "unknown {what} '{s}' (known: {})",
                    known.join(", ")
                ))
            }
        }
    }
    Ok(if chosen.is_empty() { known } else { chosen })
}

fn print_cell(c: &Cell, pps: f64, json: bool) {
    let seconds = c.count as f64 / pps;
    if json {
        println!(
            "{{\"workload\":\"{}\",\"sender\":\"{}\",\"count\":{},\"size\":{},\"dests\":{},\"batch\":{},\"seconds\":{seconds:.6},\"pps\":{pps:.0}}}",
            c.workload, c.sender, c.count, c.size, c.dests, c.batch
        );
    } else {
        println!(
            "{} {}: {} datagrams of {} B to {} receivers, {} per call: {pps:.0} packets/s",
            c.workload, c.sender, c.count, c.size, c.dests, c.batch
        );
    }
}

/// The whole grid: a table of each sender's ratio to the first (std by default) in every
/// send cell, then of each receiver's ratio to the first in the receive cells, and the
/// chart of both.
fn grid(
    senders: &[&str],
    receivers: &[&str],
    count: usize,
    batch: usize,
    repeat: usize,
    json: bool,
    svg: &std::path::Path,
) -> Result<(), Fail> {
    if !json {
        println!(
            "packets/s as a ratio to {} ({0}'s own figure in the first column)",
            senders[0]
        );
        println!(
            "{:<7} {:>5} {:>5} {:>5} {:>10}  {}",
            "work",
            "size",
            "dests",
            "batch",
            format!("{} pps", senders[0]),
            senders[1..].join("  ")
        );
    }
    let mut labels = Vec::new();
    let mut table = Vec::new();
    for workload in ["mixed", "fanout"] {
        for size in [64, 1200] {
            for dests in [1, 8, 64] {
                for batch in [1, 8, 64] {
                    let cells: Vec<Cell> = senders
                        .iter()
                        .map(|s| Cell {
                            workload,
                            sender: s,
                            count,
                            size,
                            dests,
                            batch,
                        })
                        .collect();
                    let pps = measure(&cells, repeat)?;
                    if json {
                        for (c, p) in cells.iter().zip(&pps) {
                            print_cell(c, *p, true);
                        }
                    } else {
                        println!(
                            "{workload:<7} {size:>5} {dests:>5} {batch:>5} {:>10.0}  {}",
                            pps[0],
                            ratios(senders, &pps)
                        );
                    }
                    labels.push(format!("{workload} {size}/{dests}/{batch}"));
                    table.push(pps);
                }
            }
        }
    }
    // The receive cells: every receiver draining the same queue, per datagram size.
    if !json {
        println!(
            "receive: packets/s draining a filled queue, as a ratio to {} ({0}'s own figure \
             in the first column)",
            receivers[0]
        );
        println!(
            "{:<7} {:>5} {:>5} {:>10}  {}",
            "work",
            "size",
            "batch",
            format!("{} pps", receivers[0]),
            receivers[1..].join("  ")
        );
    }
    let mut receive_labels = Vec::new();
    let mut receive_table = Vec::new();
    for size in [64, 1200] {
        let cells: Vec<receive::Cell> = receivers
            .iter()
            .map(|r| receive::Cell {
                receiver: r,
                count,
                size,
                batch,
                live: false,
                rcvbuf: None,
            })
            .collect();
        let outcomes = receive::measure(&cells, repeat).map_err(Fail)?;
        let pps: Vec<f64> = outcomes.iter().map(receive::Outcome::pps).collect();
        if json {
            for (c, o) in cells.iter().zip(&outcomes) {
                receive::print(c, o, true);
            }
        } else {
            println!(
                "{:<7} {size:>5} {batch:>5} {:>10.0}  {}",
                "receive",
                pps[0],
                ratios(receivers, &pps)
            );
        }
        receive_labels.push(format!("receive {size}"));
        receive_table.push(pps);
    }
    let sections = [
        chart::Section {
            title: "send: packets/s per sender (rows: workload size/dests/batch)",
            rows: &labels,
            series: senders,
            pps: &table,
        },
        chart::Section {
            title: "receive: packets/s per receiver draining a filled queue (rows: size)",
            rows: &receive_labels,
            series: receivers,
            pps: &receive_table,
        },
    ];
    chart::write(svg, &sections).map_err(Fail)?;
    eprintln!("chart: {}", svg.display());
    Ok(())
}

/// Each figure after the first as a ratio to the first, in columns as wide as the names.
fn ratios(names: &[&str], pps: &[f64]) -> String {
    names[1..]
        .iter()
        .zip(&pps[1..])
        .map(|(s, p)| format!("{:>w$.2}", p / pps[0], w = s.len()))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Best packets/s of each cell over `repeat` rounds, the cells interleaved in each round.
fn measure(cells: &[Cell], repeat: usize) -> Result<Vec<f64>, Fail> {
    let mut best = vec![0f64; cells.len()];
    for _ in 0..repeat {
        for (cell, best) in cells.iter().zip(best.iter_mut()) {
            *best = best.max(once(cell)?);
        }
    }
    Ok(best)
}

/// One timed run of a cell, to receivers of its own.
fn once(c: &Cell) -> Result<f64, Fail> {
    let receivers: Vec<UdpSocket> = (0..c.dests)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    let to: Vec<SocketAddrV4> = receivers
        .iter()
        .map(|r| match r.local_addr() {
            Ok(SocketAddr::V4(a)) => Ok(a),
            Ok(other) => fail(format!("a receiver bound to {other}")),
            Err(e) => Err(io(e)),
        })
        .collect::<Result<_, Fail>>()?;
    let plan = Plan::of(c);
    let took = senders::time(c, &plan, &to).map_err(|e| Fail(format!("{}: {e}", c.sender)))?;
    Ok(plan.datagrams() as f64 / took.as_secs_f64().max(1e-9))
}

fn io(e: std::io::Error) -> Fail {
    Fail(e.to_string())
}
