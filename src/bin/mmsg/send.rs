//! `mmsg send`: a file in chunks, or generated packets, to one or many recipients.

use std::io::IoSlice;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmsg::{Cancellable, Domain, MsgFlags, Recipient, SockAddr, Socket, Type};

use crate::args::{self, fail, Fail};
use crate::wire::{self, Header};

/// Packets per send call.
const BATCH: usize = 64;

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    mmsg send --to 127.0.0.1:5004 --file video.ts --size 1316 --rate 20000\n  \
    mmsg send --to 127.0.0.1:5004,127.0.0.1:5006 --generate --size 1200 --count 100000")]
pub struct SendArgs {
    /// Recipients, comma-separated: ADDR[,ADDR...]
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    to: String,
    /// Send this file, in datagram-sized chunks each with a sequence header.
    #[arg(long, value_name = "PATH", conflicts_with = "generate")]
    file: Option<std::path::PathBuf>,
    /// Send generated packets (the default when no --file is given).
    #[arg(long)]
    generate: bool,
    /// Datagram size in bytes, header included (28 bytes).
    #[arg(long, default_value_t = 1200)]
    size: usize,
    /// Packets per second to each recipient (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Generated packets to send (ignored with --file).
    #[arg(long, default_value_t = 1000)]
    count: u64,
}

pub fn run(a: SendArgs) -> Result<(), Fail> {
    let to = args::destinations(&a.to)?;
    let size = args::datagram_size(a.size, wire::LEN)?;
    let chunk = size - wire::LEN;
    let data = match &a.file {
        Some(path) => match std::fs::read(path) {
            Ok(d) => Some(d),
            Err(e) => return fail(format!("cannot read {}: {e}", path.display())),
        },
        None => None,
    };
    let total = match &data {
        Some(d) => (d.len() as u64).div_ceil(chunk as u64).max(1),
        None => a.count,
    };
    let domain = if to[0].is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, None)?;
    let mut recipients: Vec<Recipient> = to
        .iter()
        .map(|a| Recipient::new(SockAddr::from(*a)))
        .collect();

    let cancellable = Cancellable::new();
    let on_interrupt = cancellable.clone();
    // A second handler cannot be installed (tests run several commands): ignore that.
    let _ = ctrlc::set_handler(move || on_interrupt.cancel());

    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} packets {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let generated = vec![0u8; chunk];
    let started = Instant::now();
    let mut seq = 0u64;
    let mut cancelled = false;
    while seq < total {
        let count = (total - seq).min(BATCH as u64) as usize;
        let headers: Vec<[u8; wire::LEN]> = (seq..seq + count as u64)
            .map(|s| {
                let flags = if data.is_some() { wire::FILE } else { 0 };
                Header {
                    flags,
                    chunk: chunk as u32,
                    seq: s,
                    total,
                }
                .encode()
            })
            .collect();
        let payloads: Vec<Vec<u8>> = match &data {
            Some(_) => Vec::new(),
            None => (seq..seq + count as u64)
                .map(|s| (0..chunk).map(|i| wire::generated_byte(s, i)).collect())
                .collect(),
        };
        let packets: Vec<[IoSlice; 2]> = (0..count)
            .map(|i| {
                let body: &[u8] = match &data {
                    Some(d) => {
                        let from = ((seq as usize) + i) * chunk;
                        &d[from.min(d.len())..(from + chunk).min(d.len())]
                    }
                    None => payloads.get(i).map_or(&generated[..], |p| &p[..]),
                };
                [IoSlice::new(&headers[i]), IoSlice::new(body)]
            })
            .collect();
        for r in recipients.iter_mut() {
            r.packets_sent = 0;
        }
        match socket.send_fanout(
            &packets,
            &mut recipients,
            MsgFlags::empty(),
            Some(&cancellable),
        ) {
            Ok(_) => {}
            Err(e) if mmsg::is_cancelled(&e) => {
                cancelled = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(r) = recipients.iter().find(|r| r.error.is_some()) {
            let e = r.error.as_ref().map(|e| e.to_string()).unwrap_or_default();
            eprintln!(
                "mmsg: recipient {} failed: {e}",
                r.address
                    .as_socket()
                    .map_or(String::new(), |a| a.to_string())
            );
        }
        seq += count as u64;
        progress.set_position(seq);
        if pace(a.rate, seq, started, &cancellable) {
            cancelled = true;
            break;
        }
    }
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {seq} of {total} packets to {} recipient(s) in {secs:.2} s ({:.0} packets/s each, {:.3} system calls per packet){}",
        to.len(),
        seq as f64 / secs.max(1e-9),
        socket.syscall_count() as f64 / (seq as f64 * to.len() as f64).max(1.0),
        if cancelled { ", cancelled" } else { "" }
    );
    if cancelled {
        std::process::exit(130);
    }
    Ok(())
}

/// Sleeps until `sent` packets are due at `rate` per second; true when cancelled.
fn pace(rate: u64, sent: u64, started: Instant, cancellable: &Cancellable) -> bool {
    if rate == 0 {
        return cancellable.is_cancelled();
    }
    let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
    while Instant::now() < due {
        if cancellable.is_cancelled() {
            return true;
        }
        std::thread::sleep((due - Instant::now()).min(Duration::from_millis(20)));
    }
    cancellable.is_cancelled()
}
