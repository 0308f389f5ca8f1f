//! Each sender's timed run of a plan. Everything a sender can prepare (headers, messages,
//! buffers) is prepared before its clock starts, so only the sending is timed.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
#[cfg(feature = "peers")]
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mmsg::{Domain, MsgFlags, OutputMessage, Recipient, SockAddr, Socket, Type};

use super::plan::{max_gso_run, Cell, Plan};
use super::raw;

/// The senders of the C peers crate, built only with the `peers` feature.
pub const PEERS: [&str; 3] = ["c-sendmmsg", "c-gso", "glib"];

/// The senders this build knows, the baseline first.
pub fn all() -> Vec<&'static str> {
    #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
    let mut senders = vec![
        "std",
        "mmsg",
        "mmsg-no-gso",
        "mmsg-portable",
        "quinn-udp",
        "raw-sendmmsg",
        "raw-gso",
    ];
    // The C floors and GLib come with the `peers` feature (a C compiler, GLib's headers).
    #[cfg(feature = "peers")]
    {
        senders.extend(["c-sendmmsg", "c-gso"]);
        if mmsg_bench_peers::HAVE_GLIB {
            senders.push("glib");
        }
    }
    senders
}

/// Sends `plan` to `to` as `cell.sender` does; returns how long the sends took.
pub fn time(cell: &Cell, plan: &Plan, to: &[SocketAddrV4]) -> io::Result<Duration> {
    let buffer = plan.buffer(cell.size);
    let addresses: Vec<SockAddr> = to.iter().map(|a| SockAddr::from(*a)).collect();
    if cell.sender.starts_with("mmsg") {
        return self::mmsg(cell, plan, &addresses, &buffer);
    }
    // Every other sender sends from a std socket (or a duplicate of its descriptor).
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    match cell.sender {
        "std" => {
            let to: Vec<SocketAddr> = to.iter().map(|&a| a.into()).collect();
            let datagrams: Vec<(&[u8], SocketAddr)> = (0..plan.order.len())
                .map(|i| {
                    let d = plan.order[i] as usize;
                    (plan.datagram(&buffer, cell.size, i), to[d])
                })
                .collect();
            let started = Instant::now();
            for _ in 0..plan.rounds {
                for &(datagram, to) in &datagrams {
                    let _ = socket.send_to(datagram, to);
                }
            }
            Ok(started.elapsed())
        }
        "raw-sendmmsg" | "raw-gso" => {
            let gso = cell.sender == "raw-gso";
            let mut headers = raw::Headers::new(&addresses, plan, &buffer, cell.size, gso);
            let started = Instant::now();
            headers.send(socket.as_raw_fd(), plan.rounds);
            Ok(started.elapsed())
        }
        #[cfg(feature = "peers")]
        "c-sendmmsg" | "c-gso" | "glib" => {
            let peer_plan = mmsg_bench_peers::Plan {
                dests: to,
                order: &plan.order,
                calls: &plan.calls,
                rounds: plan.rounds,
                buffer: &buffer,
                slots: &plan.slots,
                size: cell.size,
            };
            match cell.sender {
                "glib" => mmsg_bench_peers::glib(socket.as_fd(), &peer_plan),
                s => mmsg_bench_peers::c_sendmmsg(socket.as_fd(), &peer_plan, s == "c-gso"),
            }
        }
        "quinn-udp" => quinn(&socket, cell, plan, to, &buffer),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown sender '{other}'"),
        )),
    }
}

/// mmsg: `send_messages` in calls of the batch (mixed) or `send_fanout` (fanout), one
/// vector per datagram, pointing at its slot.
fn mmsg(cell: &Cell, plan: &Plan, addresses: &[SockAddr], buffer: &[u8]) -> io::Result<Duration> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    socket.set_segmentation_offload(cell.sender == "mmsg");
    socket.set_portable_path(cell.sender == "mmsg-portable");
    let slots: Vec<[IoSlice; 1]> = buffer
        .chunks_exact(cell.size)
        .map(|slot| [IoSlice::new(slot)])
        .collect();
    if cell.workload == "mixed" {
        let mut messages: Vec<OutputMessage> = (0..plan.order.len())
            .map(|i| {
                let to = &addresses[plan.order[i] as usize];
                OutputMessage::new(Some(to), &slots[plan.slots[i] as usize])
            })
            .collect();
        let started = Instant::now();
        for _ in 0..plan.rounds {
            for range in plan.call_ranges() {
                let _ = socket.send_messages(&mut messages[range], MsgFlags::empty(), None);
            }
        }
        Ok(started.elapsed())
    } else {
        let packets = &slots[..cell.batch];
        let mut recipients: Vec<Recipient> =
            addresses.iter().cloned().map(Recipient::new).collect();
        let started = Instant::now();
        for _ in 0..plan.rounds {
            recipients.iter_mut().for_each(Recipient::reset);
            let _ = socket.send_fanout(packets, &mut recipients, MsgFlags::empty(), None);
        }
        Ok(started.elapsed())
    }
}

/// quinn-udp: one `Transmit` per run of datagrams to one receiver inside a call, segmented
/// (its GSO send) where the run is longer than one: the run's slots, back to back in the
/// buffer, are its contents.
fn quinn(
    socket: &UdpSocket,
    cell: &Cell,
    plan: &Plan,
    to: &[SocketAddrV4],
    buffer: &[u8],
) -> io::Result<Duration> {
    use quinn_udp::{Transmit, UdpSockRef, UdpSocketState};
    let state = UdpSocketState::new(UdpSockRef::from(socket))?;
    let max_run = max_gso_run(cell.size).min(state.max_gso_segments().max(1));
    let transmits: Vec<Transmit> = plan
        .runs(max_run)
        .into_iter()
        .flatten()
        .map(|(d, first, n)| {
            let at = plan.slots[first] as usize * cell.size;
            Transmit {
                destination: to[d as usize].into(),
                ecn: None,
                contents: &buffer[at..at + n * cell.size],
                segment_size: (n > 1).then_some(cell.size),
                src_ip: None,
            }
        })
        .collect();
    let started = Instant::now();
    for _ in 0..plan.rounds {
        for transmit in &transmits {
            let _ = state.try_send(UdpSockRef::from(socket), transmit);
        }
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sender delivers exactly its plan: each receiver gets the datagrams the plan
    /// sends it, in order, each its slot's bytes byte for byte, and nothing else.
    #[test]
    fn every_sender_delivers_its_plan() {
        for sender in all() {
            for (workload, count, dests, batch) in [("mixed", 70, 3, 8), ("fanout", 40, 2, 6)] {
                let cell = Cell {
                    workload,
                    sender,
                    count,
                    size: 300,
                    dests,
                    batch,
                };
                let receivers: Vec<UdpSocket> = (0..dests)
                    .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
                    .collect();
                let to: Vec<SocketAddrV4> = receivers
                    .iter()
                    .map(|r| match r.local_addr().unwrap() {
                        SocketAddr::V4(a) => a,
                        other => panic!("{other}"),
                    })
                    .collect();
                let plan = Plan::of(&cell);
                time(&cell, &plan, &to).unwrap();
                for (d, receiver) in receivers.iter().enumerate() {
                    receiver.set_nonblocking(true).unwrap();
                    let buffer = plan.buffer(cell.size);
                    let mine: Vec<&[u8]> = (0..plan.order.len())
                        .filter(|&i| plan.order[i] as usize == d)
                        .map(|i| plan.datagram(&buffer, cell.size, i))
                        .collect();
                    let mut buf = [0u8; 400];
                    for n in 0..plan.rounds * mine.len() {
                        let len = receiver
                            .recv(&mut buf)
                            .unwrap_or_else(|e| panic!("{sender} {workload} {d}/{n}: {e}"));
                        let want = mine[n % mine.len()];
                        assert_eq!(&buf[..len], want, "{sender} {workload} {d}/{n}");
                    }
                    assert!(
                        receiver.recv(&mut buf).is_err(),
                        "{sender} {workload} {d}: extra"
                    );
                }
            }
        }
    }
}
