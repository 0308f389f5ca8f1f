//! The receive workload: packets/s of each receiver draining the same traffic.
//!
//! Drain (the default): the receiver's socket is opened with its options (receive offload
//! on or off decides whether the kernel queues a segmented send whole or cut into
//! datagrams), its queue is filled by a segmented sender until it holds every datagram,
//! and only then is the receiver's drain of exactly that many timed, so that the sender's
//! speed does not enter the figure. Live (`--live`): sender and receiver run at once, at
//! full speed, and what arrives of what was sent is reported with the rate.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};

use super::plan::max_gso_run;
use super::receivers::{Receiver, Want};

/// The receive buffer asked for by a drain: as much as the kernel takes (it doubles the
/// value, to 2 GiB), so that the whole count waits in the queue.
const DRAIN_RCVBUF: usize = (i32::MAX / 2) as usize;
/// The receive buffer of a live receiver, as `mmsg sink` asks for.
const LIVE_RCVBUF: usize = 8 << 20;
/// The most datagrams a warm-up sends (--batch 1024 of 64 B would be 65 536).
const MAX_WARM: usize = 16_384;
/// How long the loopback may take to deliver what was sent before the run is an error.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One cell of the receive workload.
#[derive(Clone, Copy, Debug)]
pub struct Cell<'a> {
    pub receiver: &'a str,
    pub count: usize,
    pub size: usize,
    /// Messages per receive call (for the receivers that take a number).
    pub batch: usize,
    pub live: bool,
    /// Receive buffer to ask for (`None`: the mode's default).
    pub rcvbuf: Option<usize>,
}

/// What one run of a cell measured.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub sent: u64,
    pub received: u64,
    /// Buffers (messages) per receive call.
    pub batch: usize,
    /// The receive buffer the kernel granted (`SO_RCVBUF`).
    pub rcvbuf: usize,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn pps(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        (self.sent - self.received.min(self.sent)) as f64 * 100.0 / self.sent as f64
    }
}

/// The best run (in packets/s) of each cell over `repeat` rounds, the cells interleaved in
/// each round, as the send workloads do, and each round starting one cell further on: a
/// drain is faster or slower by up to 15 % depending on what the run before it left in the
/// kernel's memory (a coalesced queue after a coalesced one, or after 200 000 datagrams cut
/// apart and freed one by one), so no receiver always follows the same one.
pub fn measure(cells: &[Cell], repeat: usize) -> Result<Vec<Outcome>, String> {
    let mut best: Vec<Option<Outcome>> = vec![None; cells.len()];
    for round in 0..repeat {
        for i in (0..cells.len()).map(|i| (i + round) % cells.len()) {
            let cell = &cells[i];
            let outcome = once(cell).map_err(|e| format!("{}: {e}", cell.receiver))?;
            if best[i].is_none_or(|b| outcome.pps() > b.pps()) {
                best[i] = Some(outcome);
            }
        }
    }
    Ok(best.into_iter().flatten().collect())
}

pub fn print(c: &Cell, o: &Outcome, json: bool) {
    let seconds = o.elapsed.as_secs_f64();
    let pps = o.pps();
    let ns = seconds * 1e9 / (o.received.max(1) as f64);
    let mode = if c.live { "live" } else { "drain" };
    if json {
        println!(
            "{{\"workload\":\"receive\",\"receiver\":\"{}\",\"mode\":\"{mode}\",\"count\":{},\"size\":{},\"batch\":{},\"sent\":{},\"received\":{},\"loss_pct\":{:.3},\"rcvbuf\":{},\"seconds\":{seconds:.6},\"ns_per_datagram\":{ns:.1},\"pps\":{pps:.0}}}",
            c.receiver, c.count, c.size, o.batch, o.sent, o.received, o.loss_pct(), o.rcvbuf
        );
    } else {
        let live = if c.live {
            format!(
                ", {} of {} received ({:.2} % lost)",
                o.received,
                o.sent,
                o.loss_pct()
            )
        } else {
            String::new()
        };
        println!(
            "receive {} ({mode}): {} datagrams of {} B, {} per call: {pps:.0} packets/s, {ns:.1} ns a datagram{live}",
            c.receiver, o.received, c.size, o.batch
        );
    }
}

/// One run of a cell, on sockets of its own.
fn once(c: &Cell) -> io::Result<Outcome> {
    let mut receiver = Receiver::open(c.receiver, c.size, c.batch)?;
    // Room for the warm-up whatever the cell asks for.
    set_rcvbuf(receiver.fd(), DRAIN_RCVBUF)?;
    let to = SockAddr::from(receiver.address()?);
    let filler = Filler::new(c.size)?;
    let batch = receiver.batch();
    // A first fill and drain of the same traffic, untimed, fills every buffer of the
    // receiver (mmsg's own under receive_messages too) once, so that no page of theirs is
    // faulted in on the clock; and verifies the receiver on the way.
    let warm = (c.batch.max(64) * filler.run).min(MAX_WARM);
    let (sent, expected) = filler.send(&to, warm)?;
    filler.settle()?;
    let tally = receiver.drain(&Want {
        count: warm,
        size: c.size,
        done: None,
    })?;
    check(
        tally.datagrams == sent && tally.wrong_size == 0 && tally.sum == expected,
        || {
            format!(
                "the warm-up received {} of {sent} datagrams",
                tally.datagrams
            )
        },
    )?;
    let rcvbuf = set_rcvbuf(
        receiver.fd(),
        c.rcvbuf
            .unwrap_or(if c.live { LIVE_RCVBUF } else { DRAIN_RCVBUF }),
    )?;
    let want = Want {
        count: c.count,
        size: c.size,
        done: None,
    };
    if c.live {
        let done = AtomicI32::new(0);
        let (sent, tally) = std::thread::scope(|s| {
            let receiving = s.spawn(|| {
                let receiver = &mut receiver;
                receiver.drain(&Want {
                    done: Some(&done),
                    ..want
                })
            });
            let sent = filler.send(&to, c.count).and_then(|sent| {
                filler.settle()?;
                Ok(sent)
            });
            // Set whatever happened, so that the receiver stops.
            done.store(1, Ordering::Release);
            let tally = receiving
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the receiver panicked")));
            (sent, tally)
        });
        let (sent, expected) = sent?;
        let tally = tally?;
        check(
            tally.wrong_size == 0
                && tally.datagrams <= sent
                && (tally.datagrams < sent || tally.sum == expected),
            || {
                format!(
                    "received {} datagrams ({} of the wrong size) of {sent} sent",
                    tally.datagrams, tally.wrong_size
                )
            },
        )?;
        return Ok(Outcome {
            sent,
            received: tally.datagrams,
            batch,
            rcvbuf,
            elapsed: tally.elapsed,
        });
    }
    let (sent, expected) = filler.send(&to, c.count)?;
    filler.settle()?;
    let dropped = drops(receiver.fd())?;
    check(dropped == 0, || {
        format!(
            "the receive queue ({rcvbuf} bytes) dropped {dropped} of the {sent} datagrams sent: \
             lower --count or raise --rcvbuf"
        )
    })?;
    let tally = receiver.drain(&want)?;
    // Nothing may be left: the drain took exactly what was sent.
    let extra = receiver.drain(&Want { count: 1, ..want })?;
    check(
        tally.datagrams == sent
            && tally.wrong_size == 0
            && tally.sum == expected
            && extra.datagrams == 0,
        || {
            format!(
                "received {} datagrams ({} of the wrong size, first bytes adding up to {} \
                 instead of {expected}, {} more after) of {sent} queued",
                tally.datagrams, tally.wrong_size, tally.sum, extra.datagrams
            )
        },
    )?;
    Ok(Outcome {
        sent,
        received: tally.datagrams,
        batch,
        rcvbuf,
        elapsed: tally.elapsed,
    })
}

fn check(ok: bool, why: impl FnOnce() -> String) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(why()))
    }
}

/// The sender that fills a receiver's queue: mmsg's `send_messages` of equal datagrams to
/// one destination, which it coalesces into segmented sends of as many as one may carry.
/// Datagram `i` is slot `i % run` of its buffer, each slot's first byte its own.
struct Filler {
    socket: Socket,
    buffer: Vec<u8>,
    size: usize,
    run: usize,
}

impl Filler {
    fn new(size: usize) -> io::Result<Filler> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        socket.set_segmentation_offload(true);
        // The fastest fill whatever the build's default path.
        socket.set_portable_path(false);
        let run = max_gso_run(size);
        let buffer = (0..run * size)
            .map(|at| ((at / size) * 31 + at % size) as u8 ^ 0x5A)
            .collect();
        Ok(Filler {
            socket,
            buffer,
            size,
            run,
        })
    }

    /// Sends `count` datagrams to `to`, a run per call; returns how many were sent and
    /// their first bytes added up.
    fn send(&self, to: &SockAddr, count: usize) -> io::Result<(u64, u64)> {
        let slots: Vec<[IoSlice; 1]> = self
            .buffer
            .chunks_exact(self.size)
            .map(|slot| [IoSlice::new(slot)])
            .collect();
        let mut messages: Vec<OutputMessage> = slots
            .iter()
            .map(|v| OutputMessage::new(Some(to), v))
            .collect();
        let (mut sent, mut sum) = (0usize, 0u64);
        while sent < count {
            let n = self.run.min(count - sent);
            let done = self
                .socket
                .send_messages(&mut messages[..n], MsgFlags::empty(), None)?;
            sum += (0..done)
                .map(|s| u64::from(self.buffer[s * self.size]))
                .sum::<u64>();
            sent += done;
        }
        Ok((sent as u64, sum))
    }

    /// Returns once everything sent so far has been delivered: the loopback hands datagrams
    /// over in order, so a marker sent after them arrives after them.
    fn settle(&self) -> io::Result<()> {
        let marker = UdpSocket::bind("127.0.0.1:0")?;
        marker.set_read_timeout(Some(DELIVERY_TIMEOUT))?;
        self.socket
            .send_to(&SockAddr::from(marker.local_addr()?), b"m", None)?;
        marker
            .recv(&mut [0u8; 1])
            .map(drop)
            .map_err(|e| io::Error::new(e.kind(), format!("the loopback delivered nothing: {e}")))
    }
}

/// Asks for a receive buffer of `bytes` with `SO_RCVBUFFORCE` (root), past the system's
/// cap, or else with `SO_RCVBUF`, which `net.core.rmem_max` caps (said once on stderr).
/// Returns what the kernel granted.
fn set_rcvbuf(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    static NOTED: AtomicBool = AtomicBool::new(false);
    let value = bytes.min(i32::MAX as usize) as libc::c_int;
    if setsockopt(fd, libc::SO_RCVBUFFORCE, value).is_err() {
        setsockopt(fd, libc::SO_RCVBUF, value)?;
        if !NOTED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "mmsg: note: SO_RCVBUFFORCE was refused (it needs root or CAP_NET_ADMIN): the \
                 receive buffer is SO_RCVBUF's, capped by net.core.rmem_max"
            );
        }
    }
    let granted = getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 1)?;
    Ok(granted[0] as usize)
}

/// Datagrams the socket's queue dropped (`SO_MEMINFO`), for want of room.
fn drops(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let info = getsockopt(fd, libc::SOL_SOCKET, libc::SO_MEMINFO, 9)?;
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

fn setsockopt(fd: BorrowedFd<'_>, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int whose size is passed with it; `fd` is open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `words` 32-bit words of a socket option.
fn getsockopt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    option: libc::c_int,
    words: usize,
) -> io::Result<Vec<u32>> {
    let mut value = vec![0u32; words];
    let mut len = (words * 4) as libc::socklen_t;
    // SAFETY: `value` has room for `len` bytes, and the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            option,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every receiver counts exactly what was queued: each datagram once, with the first
    /// bytes the sender sent, one of another size as such (GRO receivers: in a buffer of its
    /// own), and stops at the empty queue.
    #[test]
    fn every_receiver_counts_exactly_what_was_queued() {
        for name in super::super::receivers::all() {
            let mut receiver = Receiver::open(name, 100, 16).unwrap();
            // Room for all (the default buffer drops some of 300 datagrams cut apart).
            set_rcvbuf(receiver.fd(), 64 << 20).unwrap();
            let address = receiver.address().unwrap();
            let filler = Filler::new(100).unwrap();
            let (sent, sum) = filler.send(&SockAddr::from(address), 300).unwrap();
            assert_eq!(sent, 300);
            let odd = UdpSocket::bind("127.0.0.1:0").unwrap();
            assert_eq!(odd.send_to(&[7; 50], address).unwrap(), 50);
            filler.settle().unwrap();
            let want = Want {
                count: 1000,
                size: 100,
                done: None,
            };
            let tally = receiver.drain(&want).unwrap();
            assert_eq!(
                (tally.datagrams, tally.wrong_size, tally.sum),
                (301, 1, sum + 7),
                "{name}"
            );
            assert!(tally.calls >= 1 && tally.calls <= 301, "{name}: {tally:?}");
            assert_eq!(receiver.drain(&want).unwrap().datagrams, 0, "{name}");
        }
    }

    /// A queue too small for the count is found out before anything is timed.
    #[test]
    fn a_queue_that_dropped_datagrams_is_an_error() {
        let cell = Cell {
            receiver: "std",
            count: 5000,
            size: 1200,
            batch: 64,
            live: false,
            rcvbuf: Some(4096),
        };
        let err = once(&cell).unwrap_err().to_string();
        assert!(err.contains("dropped"), "{err}");
        assert!(err.contains("raise --rcvbuf"), "{err}");
    }

    /// Live, the receiver stops once the sender is done and reports what it got.
    #[test]
    fn a_live_run_reports_what_arrived_of_what_was_sent() {
        for receiver in ["mmsg", "mmsg-no-gro"] {
            let cell = Cell {
                receiver,
                count: 2000,
                size: 64,
                batch: 64,
                live: true,
                rcvbuf: Some(64 << 20),
            };
            let outcome = once(&cell).unwrap();
            // 64 MiB holds every datagram even if the receiver falls behind.
            assert_eq!((outcome.sent, outcome.received), (2000, 2000), "{receiver}");
            assert!(outcome.pps() > 0.0, "{receiver}");
            assert_eq!(outcome.loss_pct(), 0.0);
        }
    }
}
