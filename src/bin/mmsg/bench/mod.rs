//! `mmsg bench`: packets per second of mmsg against other ways of sending, as ratios
//! measured in one invocation. Receivers on loopback never read: the kernel drops what does
//! not fit, so the figure is the sender's cost.

mod raw;

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use mmsg::{Domain, MsgFlags, OutputMessage, Recipient, SockAddr, Socket, Type};

/// A failure to report: one line, exit status 2.
struct Fail(String);

fn fail<T>(message: impl std::fmt::Display) -> Result<T, Fail> {
    Err(Fail(message.to_string()))
}

/// The senders this build knows, the baseline first.
const SENDERS: &[&str] = &[
    "std",
    "mmsg",
    "mmsg-no-gso",
    "mmsg-portable",
    "raw-sendmmsg",
];

/// Arguments of `mmsg bench`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    mmsg bench                                  # the whole grid, a table of ratios to std\n  \
    mmsg bench --workload mixed --sender mmsg --count 200000 --size 1200 --dests 8 --batch 64 --json")]
pub struct BenchArgs {
    /// `mixed` (datagram i to receiver i mod D) or `fanout` (each packet to every receiver).
    #[arg(long)]
    workload: Option<String>,
    /// One of: std, mmsg, mmsg-no-gso, mmsg-portable, raw-sendmmsg.
    #[arg(long)]
    sender: Option<String>,
    /// Datagrams in all (default: 200000 for one cell, 20000 a cell in the grid).
    #[arg(long)]
    count: Option<usize>,
    /// Bytes per datagram.
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Receivers.
    #[arg(long, default_value_t = 8)]
    dests: usize,
    /// Datagrams (mixed) or packets (fanout) per send call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Runs of each cell, senders interleaved; the best is kept.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// One measurement.
#[derive(Clone, Copy)]
struct Cell<'a> {
    workload: &'a str,
    sender: &'a str,
    count: usize,
    size: usize,
    dests: usize,
    batch: usize,
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
    if let Some(s) = a.sender.as_deref().filter(|s| !SENDERS.contains(s)) {
        return fail(format!(
            "unknown sender '{s}' (known: {})",
            SENDERS.join(", ")
        ));
    }
    match a.workload.as_deref() {
        Some(w @ ("mixed" | "fanout")) => {
            let senders: Vec<&str> = a.sender.as_deref().map_or(SENDERS.to_vec(), |s| vec![s]);
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
        Some(w) => fail(format!("unknown workload '{w}' (known: mixed, fanout)")),
        None => grid(a.count.unwrap_or(20_000), a.repeat, a.json),
    }
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

/// The whole grid, a table of each sender's ratio to std.
fn grid(count: usize, repeat: usize, json: bool) -> Result<(), Fail> {
    if !json {
        println!("packets/s as a ratio to std (std's own figure in the first column)");
        println!(
            "{:<7} {:>5} {:>5} {:>5} {:>10}  {}",
            "work",
            "size",
            "dests",
            "batch",
            "std pps",
            SENDERS[1..].join("  ")
        );
    }
    for workload in ["mixed", "fanout"] {
        for size in [64, 1200] {
            for dests in [1, 8, 64] {
                for batch in [1, 8, 64] {
                    let cells: Vec<Cell> = SENDERS
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
                        let ratios: Vec<String> = SENDERS[1..]
                            .iter()
                            .zip(&pps[1..])
                            .map(|(s, p)| format!("{:>w$.2}", p / pps[0], w = s.len()))
                            .collect();
                        println!(
                            "{workload:<7} {size:>5} {dests:>5} {batch:>5} {:>10.0}  {}",
                            pps[0],
                            ratios.join("  ")
                        );
                    }
                }
            }
        }
    }
    Ok(())
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

/// One timed run of a cell, with everything that can be prepared prepared first.
fn once(c: &Cell) -> Result<f64, Fail> {
    let receivers: Vec<UdpSocket> = (0..c.dests)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    let to: Vec<SocketAddr> = receivers
        .iter()
        .map(|r| r.local_addr())
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    let addresses: Vec<SockAddr> = to.iter().map(|a| SockAddr::from(*a)).collect();
    let payload = vec![0x5Au8; c.size];
    let vectors = [IoSlice::new(&payload)];
    let local = SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)));
    let started;
    match (c.workload, c.sender) {
        (_, "std") => {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
            started = Instant::now();
            if c.workload == "mixed" {
                for i in 0..c.count {
                    let _ = socket.send_to(&payload, to[i % c.dests]);
                }
            } else {
                for _ in 0..c.count / c.dests / c.batch.max(1) + 1 {
                    for address in &to {
                        for _ in 0..c.batch {
                            let _ = socket.send_to(&payload, address);
                        }
                    }
                }
            }
        }
        (_, "raw-sendmmsg") => {
            let socket = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
            let order: Vec<usize> = if c.workload == "mixed" {
                (0..c.count).map(|i| i % c.dests).collect()
            } else {
                (0..c.dests)
                    .flat_map(|d| std::iter::repeat_n(d, c.batch))
                    .collect()
            };
            let per_call = if c.workload == "mixed" {
                c.batch
            } else {
                c.batch * c.dests
            };
            let mut headers = raw::Headers::new(&addresses, &order, &payload);
            started = Instant::now();
            if c.workload == "mixed" {
                for start in (0..c.count).step_by(per_call) {
                    headers.send(&socket, start, per_call.min(c.count - start));
                }
            } else {
                for _ in 0..c.count / per_call + 1 {
                    headers.send(&socket, 0, per_call);
                }
            }
        }
        (_, sender) => {
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).map_err(io)?;
            socket.bind(&local).map_err(io)?;
            socket.set_segmentation_offload(sender == "mmsg");
            socket.set_portable_path(sender == "mmsg-portable");
            if c.workload == "mixed" {
                let mut messages: Vec<OutputMessage> = (0..c.count)
                    .map(|i| OutputMessage::new(Some(&addresses[i % c.dests]), &vectors))
                    .collect();
                started = Instant::now();
                for chunk in messages.chunks_mut(c.batch) {
                    let _ = socket.send_messages(chunk, MsgFlags::empty(), None);
                }
            } else {
                let packets: Vec<[IoSlice; 1]> =
                    (0..c.batch).map(|_| [IoSlice::new(&payload)]).collect();
                let mut recipients: Vec<Recipient> =
                    addresses.iter().cloned().map(Recipient::new).collect();
                started = Instant::now();
                for _ in 0..c.count / (c.batch * c.dests) + 1 {
                    recipients.iter_mut().for_each(Recipient::reset);
                    let _ = socket.send_fanout(&packets, &mut recipients, MsgFlags::empty(), None);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let sent = if c.workload == "mixed" {
        c.count
    } else {
        (c.count / (c.batch * c.dests) + 1) * c.batch * c.dests
    };
    Ok(sent as f64 / seconds.max(1e-9))
}

fn io(e: std::io::Error) -> Fail {
    Fail(e.to_string())
}
