//! `mmsg demo` (the default): an RTP-like video stream fanned out to receivers on
//! loopback, checked packet by packet, then the same stream sent with std for comparison.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmsg::{Domain, InputMessage, MsgFlags, Recipient, SockAddr, Socket, Type};

use crate::args::{fail, Fail};

const FPS: u64 = 60;
/// A frame: 49 packets of 1200 payload bytes and a shorter last one.
const PACKETS_PER_FRAME: u64 = 50;
const PAYLOAD: usize = 1200;
const LAST_PAYLOAD: usize = 400;
const RTP_HEADER: usize = 12;

#[derive(Args)]
#[command(after_help = "Example:\n  mmsg demo --seconds 5 --receivers 4")]
pub struct DemoArgs {
    /// How long the mmsg stream runs (the std comparison runs a fifth as long).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Receivers on loopback.
    #[arg(long, default_value_t = 4)]
    receivers: usize,
}

impl DemoArgs {
    /// What `mmsg` with no command runs.
    pub fn default_args() -> DemoArgs {
        DemoArgs {
            seconds: 5.0,
            receivers: 4,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sender {
    Mmsg,
    Std,
}

/// What one receiver saw.
#[derive(Default, Clone)]
struct Seen {
    packets: u64,
    bytes: u64,
    out_of_order: u64,
    corrupt: u64,
}

struct Phase {
    sent_per_receiver: u64,
    bytes_per_receiver: u64,
    seen: Vec<Seen>,
    seconds: f64,
    syscalls: u64,
    busy: Duration,
}

fn payload_len(index: u64) -> usize {
    if index % PACKETS_PER_FRAME == PACKETS_PER_FRAME - 1 {
        LAST_PAYLOAD
    } else {
        PAYLOAD
    }
}

fn payload_byte(index: u64, i: usize) -> u8 {
    (index.wrapping_mul(7).wrapping_add(i as u64)) as u8
}

fn rtp_header(index: u64) -> [u8; RTP_HEADER] {
    let mut h = [0u8; RTP_HEADER];
    h[0] = 0x80;
    let last = index % PACKETS_PER_FRAME == PACKETS_PER_FRAME - 1;
    h[1] = 96 | if last { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&(index as u16).to_be_bytes());
    let timestamp = (index / PACKETS_PER_FRAME * 90_000 / FPS) as u32;
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&0x6d6d_7367u32.to_be_bytes());
    h
}

pub fn run(a: DemoArgs) -> Result<bool, Fail> {
    if !(a.seconds > 0.0 && a.seconds <= 3600.0) || a.receivers == 0 || a.receivers > 64 {
        return fail("--seconds must be in (0, 3600] and --receivers in 1..=64");
    }
    let frames = ((a.seconds * FPS as f64) as u64).max(1);
    let progress = ProgressBar::new(frames + frames.div_ceil(5));
    progress.set_style(
        ProgressStyle::with_template("{msg:5} {bar:40} {pos}/{len} frames")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message("mmsg");
    let fast = phase(Sender::Mmsg, frames, a.receivers, &progress)?;
    progress.set_message("std");
    let slow = phase(Sender::Std, frames.div_ceil(5), a.receivers, &progress)?;
    progress.finish_and_clear();
    Ok(report(&fast, &slow))
}

fn phase(
    kind: Sender,
    frames: u64,
    receivers: usize,
    progress: &ProgressBar,
) -> Result<Phase, Fail> {
    let total = frames * PACKETS_PER_FRAME;
    let done = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut addresses = Vec::new();
    for _ in 0..receivers {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        let _ = socket.as_socket2().set_recv_buffer_size(8 << 20);
        socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        addresses.push(socket.local_address()?);
        let done = done.clone();
        threads.push(std::thread::spawn(move || receive(socket, total, &done)));
    }
    let mut sent_bytes = 0u64;
    let (mut syscalls, mut busy) = (0u64, Duration::ZERO);
    let started = Instant::now();
    match kind {
        Sender::Mmsg => {
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
            let mut recipients: Vec<Recipient> =
                addresses.iter().cloned().map(Recipient::new).collect();
            for frame in 0..frames {
                let first = frame * PACKETS_PER_FRAME;
                let headers: Vec<[u8; RTP_HEADER]> =
                    (first..first + PACKETS_PER_FRAME).map(rtp_header).collect();
                let payloads: Vec<Vec<u8>> = (first..first + PACKETS_PER_FRAME)
                    .map(|i| (0..payload_len(i)).map(|b| payload_byte(i, b)).collect())
                    .collect();
                // One packet = header vector + payload vector, shared by every recipient.
                let packets: Vec<[IoSlice; 2]> = headers
                    .iter()
                    .zip(&payloads)
                    .map(|(h, p)| [IoSlice::new(h), IoSlice::new(p)])
                    .collect();
                recipients.iter_mut().for_each(Recipient::reset);
                let t = Instant::now();
                socket.send_fanout(&packets, &mut recipients, MsgFlags::empty(), None)?;
                busy += t.elapsed();
                if let Some(e) = recipients.iter().find_map(|r| r.error.as_ref()) {
                    return fail(format!("a receiver failed: {e}"));
                }
                sent_bytes += packets
                    .iter()
                    .map(|p| (p[0].len() + p[1].len()) as u64)
                    .sum::<u64>();
                pace(started, frame + 1);
                progress.inc(1);
            }
            syscalls = socket.syscall_count();
        }
        Sender::Std => {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            let to: Vec<SocketAddr> = addresses.iter().filter_map(|a| a.as_socket()).collect();
            let mut datagram = Vec::with_capacity(RTP_HEADER + PAYLOAD);
            for frame in 0..frames {
                let first = frame * PACKETS_PER_FRAME;
                let t = Instant::now();
                for address in &to {
                    for i in first..first + PACKETS_PER_FRAME {
                        // std sends one contiguous buffer: header and payload are copied.
                        datagram.clear();
                        datagram.extend_from_slice(&rtp_header(i));
                        datagram.extend((0..payload_len(i)).map(|b| payload_byte(i, b)));
                        socket.send_to(&datagram, address)?;
                        syscalls += 1;
                    }
                }
                busy += t.elapsed();
                sent_bytes += (first..first + PACKETS_PER_FRAME)
                    .map(|i| (RTP_HEADER + payload_len(i)) as u64)
                    .sum::<u64>();
                pace(started, frame + 1);
                progress.inc(1);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let seen = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_default())
        .collect();
    Ok(Phase {
        sent_per_receiver: total,
        bytes_per_receiver: sent_bytes,
        seen,
        seconds,
        syscalls,
        busy,
    })
}

/// Sleeps until frame `next` is due.
fn pace(started: Instant, next: u64) {
    let due = started + Duration::from_micros(next * 1_000_000 / FPS);
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// A receiver: takes batches with `receive_messages` and checks every packet.
fn receive(socket: Socket, expected: u64, done: &AtomicBool) -> Seen {
    socket.set_timeout(Some(Duration::from_millis(200)));
    let mut seen = Seen::default();
    let mut next = 0u64;
    let mut bufs = vec![vec![0u8; 2048]; 64];
    while seen.packets < expected {
        let lens: Vec<usize> = {
            let mut vs: Vec<[IoSliceMut; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut ms: Vec<InputMessage> = vs.iter_mut().map(|v| InputMessage::new(v)).collect();
            match socket.receive_messages(&mut ms, MsgFlags::empty(), None) {
                Ok(n) => ms[..n].iter().map(|m| m.bytes_received).collect(),
                Err(_) if done.load(Ordering::SeqCst) => break,
                Err(_) => continue,
            }
        };
        for (buf, len) in bufs.iter().zip(lens) {
            let datagram = &buf[..len];
            seen.packets += 1;
            seen.bytes += len as u64;
            // Extend the 16-bit sequence number around the packet expected next.
            let seq = u16::from_be_bytes([
                datagram.get(2).copied().unwrap_or(0),
                datagram.get(3).copied().unwrap_or(0),
            ]);
            let index =
                (next as i64 + i64::from(seq.wrapping_sub(next as u16) as i16)).max(0) as u64;
            if index != next {
                seen.out_of_order += 1;
            }
            next = index + 1;
            let intact = len == RTP_HEADER + payload_len(index)
                && datagram[..RTP_HEADER] == rtp_header(index)
                && datagram[RTP_HEADER..]
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == payload_byte(index, i));
            if !intact {
                seen.corrupt += 1;
            }
        }
    }
    seen
}

/// Prints the summary; true when every receiver got every packet intact and in order.
fn report(fast: &Phase, slow: &Phase) -> bool {
    let mut perfect = true;
    println!("mmsg demo: RTP-like stream, {FPS} frames/s of {PACKETS_PER_FRAME} packets (header + payload vectors), fanned out on loopback");
    println!();
    println!(
        "{:<6} {:>3} {:>9} {:>11} {:>9} {:>6} {:>12} {:>8}",
        "sender", "rx", "sent", "sent bytes", "received", "lost", "out of order", "corrupt"
    );
    for (name, p) in [("mmsg", fast), ("std", slow)] {
        for (i, s) in p.seen.iter().enumerate() {
            let lost = p.sent_per_receiver.saturating_sub(s.packets);
            perfect &= lost == 0
                && s.out_of_order == 0
                && s.corrupt == 0
                && s.bytes == p.bytes_per_receiver;
            println!(
                "{name:<6} {i:>3} {:>9} {:>11} {:>9} {lost:>6} {:>12} {:>8}",
                p.sent_per_receiver, p.bytes_per_receiver, s.packets, s.out_of_order, s.corrupt
            );
        }
    }
    println!();
    println!(
        "{:<6} {:>14} {:>17} {:>22}",
        "sender", "packets/s", "syscalls/packet", "send time/packet (us)"
    );
    for (name, p) in [("mmsg", fast), ("std", slow)] {
        let datagrams = (p.sent_per_receiver * p.seen.len() as u64) as f64;
        println!(
            "{name:<6} {:>14.0} {:>17.4} {:>22.3}",
            datagrams / p.seconds.max(1e-9),
            p.syscalls as f64 / datagrams.max(1.0),
            p.busy.as_secs_f64() * 1e6 / datagrams.max(1.0)
        );
    }
    println!();
    println!(
        "{}",
        if perfect {
            "every receiver got every packet, intact and in order"
        } else {
            "LOSS OR DAMAGE: see the table"
        }
    );
    perfect
}
