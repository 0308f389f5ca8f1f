//! `mmsg bench --workload relay`: a relay's throughput, measured the same way for each. The
//! relay's input queue is filled first (a segmented sender, a receive queue large enough
//! for all of it), then the relay is timed taking every datagram and sending it to every
//! recipient. The recipients never read: what does not fit their queues is dropped by the
//! kernel, so the figure is the relay's own cost, not its recipients'.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use mmsg::{MsgFlags, OutputMessage, ReceiveBatch, Recipient, SockAddr, Socket};

/// The relays this build knows.
pub fn all() -> Vec<&'static str> {
    let mut relays = vec!["mmsg"];
    if cfg!(feature = "peers") {
        relays.extend(["c-mmsg", "c-gro-gso"]);
    }
    relays
}

/// Runs `--workload relay`: each relay `repeat` times, interleaved; prints the median of
/// each as input datagrams/s and as a ratio to the first relay. An error is one line.
pub fn run(
    chosen: &[String],
    count: usize,
    size: usize,
    dests: usize,
    repeat: usize,
    json: bool,
) -> Result<(), String> {
    let known = all();
    let mut relays: Vec<&str> = Vec::new();
    for r in chosen {
        match known.iter().find(|k| **k == r.as_str()) {
            Some(k) if !relays.contains(k) => relays.push(k),
            Some(_) => {}
            None => {
                return Err(format!(
                    "unknown relay '{r}' (known in this build: {}; the C relays need the \
                     `peers` feature)",
                    known.join(", ")
                ))
            }
        }
    }
    if relays.is_empty() {
        relays = known;
    }
    if !(4..=2048).contains(&size) {
        return Err("--size for the relay must be 4..=2048 (the C relay's slots)".into());
    }
    let receivers: Vec<UdpSocket> = (0..dests)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<io::Result<_>>()
        .map_err(|e| e.to_string())?;
    let to: Vec<SocketAddrV4> = receivers
        .iter()
        .filter_map(|r| match r.local_addr() {
            Ok(SocketAddr::V4(a)) => Some(a),
            _ => None,
        })
        .collect();
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); relays.len()];
    for _ in 0..repeat {
        for (relay, runs) in relays.iter().zip(runs.iter_mut()) {
            let took = time(relay, count, size, &to).map_err(|e| format!("{relay}: {e}"))?;
            runs.push(count as f64 / took.as_secs_f64().max(1e-9));
        }
    }
    let medians: Vec<f64> = runs.iter_mut().map(|r| median(r)).collect();
    for (relay, pps) in relays.iter().zip(&medians) {
        let ns = 1e9 / pps;
        if json {
            println!(
                "{{\"workload\":\"relay\",\"relay\":\"{relay}\",\"count\":{count},\"size\":{size},\"dests\":{dests},\"repeat\":{repeat},\"ns_per_datagram\":{ns:.1},\"pps\":{pps:.0}}}"
            );
        } else {
            println!(
                "relay {relay}: {count} datagrams of {size} B to {dests} recipients: {pps:.0} \
                 input datagrams/s ({ns:.0} ns each), {:.2}x {}",
                pps / medians[0],
                relays[0]
            );
        }
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Buffers a relay takes per receive call: 8 of 64 KiB with offload (up to 512 datagrams
/// of 1200 bytes), as the C floor does.
const BUFFERS: usize = 8;

/// The relay's input, filled: `count` datagrams of `size` bytes queued on a socket.
struct Input {
    socket: Socket,
    count: usize,
}

/// Queues `count` datagrams of `size` bytes (each starting with its number) on a new
/// socket, receive offload on where `offload`.
fn fill(count: usize, size: usize, offload: bool) -> io::Result<Input> {
    let socket = mmsg::Socket::from(UdpSocket::bind("127.0.0.1:0")?);
    // Everything must wait in the queue: as root past net.core.rmem_max.
    let wanted = (count * (size + 1024)).clamp(1 << 20, 1 << 30);
    socket.set_receive_buffer_size(wanted)?;
    if offload {
        socket.set_receive_offload(true)?;
    }
    let to = socket.local_address()?;
    let sender = Socket::from(UdpSocket::bind("127.0.0.1:0")?);
    let mut payload = vec![0x5au8; size.max(4) * 64];
    let mut sent = 0;
    while sent < count {
        let n = (count - sent).min(64);
        for (i, chunk) in payload.chunks_mut(size.max(4)).take(n).enumerate() {
            chunk[..4].copy_from_slice(&((sent + i) as u32).to_be_bytes());
        }
        let vectors: Vec<[IoSlice; 1]> = payload
            .chunks(size.max(4))
            .take(n)
            .map(|d| [IoSlice::new(&d[..size])])
            .collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        sent += sender.send_messages(&mut batch, MsgFlags::empty(), None)?;
    }
    // A relay that finds fewer datagrams than this fails instead of waiting forever.
    socket.set_timeout(Some(Duration::from_secs(2)));
    Ok(Input { socket, count })
}

/// Runs `relay` once: fills its input, then times it relaying to `dests`.
pub fn time(
    relay: &str,
    count: usize,
    size: usize,
    dests: &[SocketAddrV4],
) -> io::Result<Duration> {
    let offload = relay != "c-mmsg";
    let input = fill(count, size, offload)?;
    match relay {
        "mmsg" => mmsg(&input, dests),
        #[cfg(feature = "peers")]
        "c-mmsg" | "c-gro-gso" => {
            use mmsg_bench_peers::relay::{relay as c_relay, Relay};
            use std::os::fd::AsFd;
            let how = if relay == "c-mmsg" {
                Relay::Mmsg
            } else {
                Relay::GroGso
            };
            let output = UdpSocket::bind("127.0.0.1:0")?;
            // The C loops wait in recvmmsg: a blocking descriptor, bounded by a timeout.
            input.socket.as_socket2().set_nonblocking(false)?;
            input
                .socket
                .as_socket2()
                .set_read_timeout(Some(Duration::from_secs(2)))?;
            c_relay(
                how,
                input.socket.as_fd(),
                output.as_fd(),
                dests,
                input.count,
            )
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown relay '{other}'"),
        )),
    }
}

/// The mmsg relay: `receive_batch` with offload, the datagrams in place as the packets of
/// one `send_fanout` to every recipient. The loop `mmsg relay` and examples/relay.rs run.
fn mmsg(input: &Input, dests: &[SocketAddrV4]) -> io::Result<Duration> {
    let output = Socket::from(UdpSocket::bind("127.0.0.1:0")?);
    let mut recipients: Vec<Recipient> = dests
        .iter()
        .map(|&d| Recipient::new(SockAddr::from(SocketAddr::V4(d))))
        .collect();
    let mut batch = ReceiveBatch::new(BUFFERS, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
    let mut spare: Vec<[IoSlice<'static>; 1]> = Vec::with_capacity(BUFFERS * 64);
    let started = Instant::now();
    let mut relayed = 0;
    while relayed < input.count {
        input
            .socket
            .receive_batch(&mut batch, MsgFlags::empty(), None)?;
        let mut packets = recycle(std::mem::take(&mut spare));
        packets.extend(
            batch
                .buffers()
                .flat_map(|b| b.datagrams())
                .map(|d| [IoSlice::new(d)]),
        );
        recipients.iter_mut().for_each(Recipient::reset);
        output.send_fanout(&packets, &mut recipients, MsgFlags::empty(), None)?;
        if let Some(failed) = recipients.iter_mut().find_map(|r| r.error.take()) {
            return Err(failed);
        }
        relayed += packets.len();
        spare = recycle(packets);
    }
    Ok(started.elapsed())
}

/// An empty list on `list`'s allocation, free of its lifetime (a `Vec` collected from its
/// own `into_iter` keeps its allocation when the element's layout does not change).
fn recycle<'b>(mut list: Vec<[IoSlice<'_>; 1]>) -> Vec<[IoSlice<'b>; 1]> {
    list.clear();
    list.into_iter().map(|_| unreachable!("emptied")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every relay this build knows relays every datagram to every recipient, intact.
    #[test]
    fn every_relay_delivers_what_it_took() {
        for relay in all() {
            // Receivers that read, with queues that hold all 200 datagrams.
            let receivers: Vec<Socket> = (0..3)
                .map(|_| {
                    let r = Socket::from(UdpSocket::bind("127.0.0.1:0").unwrap());
                    r.set_receive_buffer_size(4 << 20).unwrap();
                    r.set_timeout(Some(Duration::from_secs(5)));
                    r
                })
                .collect();
            let dests: Vec<SocketAddrV4> = receivers
                .iter()
                .map(|r| match r.local_address().unwrap().as_socket() {
                    Some(SocketAddr::V4(a)) => a,
                    _ => unreachable!("bound to 127.0.0.1"),
                })
                .collect();
            time(relay, 200, 300, &dests).unwrap();
            for r in &receivers {
                let mut buf = [0u8; 512];
                for i in 0..200u32 {
                    let n = r
                        .receive(&mut buf, None)
                        .unwrap_or_else(|e| panic!("{relay}: datagram {i}: {e}"));
                    assert_eq!(n, 300, "{relay}");
                    assert_eq!(buf[..4], i.to_be_bytes(), "{relay}");
                    assert!(buf[4..n].iter().all(|&b| b == 0x5a), "{relay}");
                }
            }
        }
    }
}
