//! Each sender's timed run of a plan. Everything a sender can prepare (headers, messages,
//! buffers) is prepared before its clock starts, so only the sending is timed.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mmsg::{Domain, MsgFlags, OutputMessage, Recipient, SockAddr, Socket, Type};

use super::plan::{max_gso_run, Cell, Plan};
use super::raw;

/// The senders this build knows, the baseline first.
pub fn all() -> Vec<&'static str> {
    let mut senders = vec![
        "std",
        "mmsg",
        "mmsg-no-gso",
        "mmsg-portable",
        "quinn-udp",
        "raw-sendmmsg",
        "raw-gso",
        "c-sendmmsg",
        "c-gso",
    ];
    if mmsg_bench_peers::HAVE_GLIB {
        senders.push("glib");
    }
    senders
}

/// Sends `plan` to `to` as `cell.sender` does; returns how long the sends took.
pub fn time(cell: &Cell, plan: &Plan, to: &[SocketAddrV4]) -> io::Result<Duration> {
    let payload = vec![0x5Au8; cell.size];
    let addresses: Vec<SockAddr> = to.iter().map(|a| SockAddr::from(*a)).collect();
    if cell.sender.starts_with("mmsg") {
        return self::mmsg(cell, plan, &addresses, &payload);
    }
    // Every other sender sends from a std socket (or a duplicate of its descriptor).
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    match cell.sender {
        "std" => {
            let to: Vec<SocketAddr> = to.iter().map(|&a| a.into()).collect();
            let started = Instant::now();
            for _ in 0..plan.rounds {
                for &d in &plan.order {
                    let _ = socket.send_to(&payload, to[d as usize]);
                }
            }
            Ok(started.elapsed())
        }
        "raw-sendmmsg" | "raw-gso" => {
            let gso = cell.sender == "raw-gso";
            let mut headers = raw::Headers::new(&addresses, plan, &payload, gso);
            let started = Instant::now();
            headers.send(socket.as_raw_fd(), plan.rounds);
            Ok(started.elapsed())
        }
        "c-sendmmsg" | "c-gso" | "glib" => {
            let peer_plan = mmsg_bench_peers::Plan {
                dests: to,
                order: &plan.order,
                calls: &plan.calls,
                rounds: plan.rounds,
                payload: &payload,
            };
            match cell.sender {
                "glib" => mmsg_bench_peers::glib(socket.as_fd(), &peer_plan),
                s => mmsg_bench_peers::c_sendmmsg(socket.as_fd(), &peer_plan, s == "c-gso"),
            }
        }
        "quinn-udp" => quinn(&socket, cell, plan, to, &payload),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown sender '{other}'"),
        )),
    }
}

/// mmsg: `send_messages` in calls of the batch (mixed) or `send_fanout` (fanout).
fn mmsg(cell: &Cell, plan: &Plan, addresses: &[SockAddr], payload: &[u8]) -> io::Result<Duration> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    socket.set_segmentation_offload(cell.sender == "mmsg");
    socket.set_portable_path(cell.sender == "mmsg-portable");
    let vectors = [IoSlice::new(payload)];
    if cell.workload == "mixed" {
        let mut messages: Vec<OutputMessage> = plan
            .order
            .iter()
            .map(|&d| OutputMessage::new(Some(&addresses[d as usize]), &vectors))
            .collect();
        let started = Instant::now();
        for _ in 0..plan.rounds {
            for range in plan.call_ranges() {
                let _ = socket.send_messages(&mut messages[range], MsgFlags::empty(), None);
            }
        }
        Ok(started.elapsed())
    } else {
        let packets: Vec<[IoSlice; 1]> = (0..cell.batch).map(|_| vectors).collect();
        let mut recipients: Vec<Recipient> =
            addresses.iter().cloned().map(Recipient::new).collect();
        let started = Instant::now();
        for _ in 0..plan.rounds {
            recipients.iter_mut().for_each(Recipient::reset);
            let _ = socket.send_fanout(&packets, &mut recipients, MsgFlags::empty(), None);
        }
        Ok(started.elapsed())
    }
}

/// quinn-udp: one `Transmit` per run of datagrams to one receiver inside a call, segmented
/// (its GSO send) where the run is longer than one, from a buffer laid out before timing
/// (quinn builds its packets contiguously anyway).
fn quinn(
    socket: &UdpSocket,
    cell: &Cell,
    plan: &Plan,
    to: &[SocketAddrV4],
    payload: &[u8],
) -> io::Result<Duration> {
    use quinn_udp::{Transmit, UdpSockRef, UdpSocketState};
    let state = UdpSocketState::new(UdpSockRef::from(socket))?;
    let max_run = max_gso_run(cell.size).min(state.max_gso_segments().max(1));
    let contiguous = payload.repeat(max_run);
    let transmits: Vec<Transmit> = plan
        .runs(max_run)
        .into_iter()
        .flatten()
        .map(|(d, _, n)| Transmit {
            destination: to[d as usize].into(),
            ecn: None,
            contents: &contiguous[..n * cell.size],
            segment_size: (n > 1).then_some(cell.size),
            src_ip: None,
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

    /// Every sender delivers exactly its plan: each receiver gets as many datagrams as the
    /// plan sends it, each the payload byte for byte, and nothing else.
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
                    let want =
                        plan.rounds * plan.order.iter().filter(|&&o| o as usize == d).count();
                    let mut buf = [0u8; 400];
                    for n in 0..want {
                        let len = receiver
                            .recv(&mut buf)
                            .unwrap_or_else(|e| panic!("{sender} {workload} {d}/{n}: {e}"));
                        assert_eq!(&buf[..len], &[0x5A; 300][..], "{sender} {workload} {d}/{n}");
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
