//! `mmsg relay`: every datagram received on one address goes, unchanged and in order, to
//! every recipient, straight from the receive buffers: `receive_batch` (with receive offload
//! where the kernel has it) fills a [`ReceiveBatch`], and its datagrams, in place, are the
//! packets of one `send_fanout` call. Nothing is copied in between.

mod report;

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mmsg::{Cancellable, Domain, MsgFlags, ReceiveBatch, Recipient, SockAddr, Socket, Type};

use crate::args::{self, fail, Context, Fail};
use crate::cidr::{self, Cidr};
use crate::interrupt::{self, EXIT_INTERRUPTED};
use crate::{platform, units};
use report::{Counters, Outgoing};

/// Buffers per receive: with offload each may hold up to 64 datagrams of one sender.
const BUFFERS: usize = 64;
/// Receive buffer asked for, so that bursts wait in the kernel instead of being dropped.
const RECEIVE_BUFFER: usize = 8 << 20;
/// Send buffer asked for, so that a batch to many recipients rarely waits for room.
const SEND_BUFFER: usize = 4 << 20;

const EXAMPLES: &str = "\
Examples:
  # Everything arriving on port 5004 to three receivers, one of them IPv6:
  mmsg relay --bind 0.0.0.0:5004 --to 192.0.2.10:5004,192.0.2.11:5004,[2001:db8::7]:5004

  # Only from one network and one host, with a line of statistics every 10 s:
  mmsg relay --bind [::]:5004 --to 127.0.0.1:6000,127.0.0.1:6002 \\
      --from 198.51.100.0/24,2001:db8::42 --stats 10

  # Try it on loopback: two sinks, a relay for 10 000 datagrams, then a sender.
  mmsg sink --bind 127.0.0.1:6000 --count 10000 &
  mmsg sink --bind [::1]:6002 --count 10000 &
  mmsg relay --bind 127.0.0.1:5004 --to 127.0.0.1:6000,[::1]:6002 --count 10000 &
  mmsg send --to 127.0.0.1:5004 --count 10000 --rate 20000

The first line of output is `relaying ADDRESS -> N recipients`, with the port that was bound.
IPv4 and IPv6 recipients may be mixed: they are sent to from one socket (IPv6, dual-stack,
where any recipient is IPv6). A recipient the OS refuses to send to (no route, a broadcast
address, ...) is reported on stderr once, when it starts failing, and again when it works
again; it is tried with every later batch and never holds up the others. ICMP refusals
(port unreachable) from a recipient that went away are not seen: Linux reports them to an
unconnected UDP socket only with IP_RECVERR, and then to whichever send comes next, so they
cannot be told apart per recipient; such a recipient keeps being sent to, at no cost to the
others. Ctrl-C stops the relay with a report (exit status 130); so does --count, with 0.";

/// Arguments of `mmsg relay`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct RelayArgs {
    /// Address to receive on, HOST:PORT (port 0: one the OS picks, printed on start; [::]
    /// receives IPv4 too)
    #[arg(long, value_name = "ADDR")]
    bind: String,
    /// Where every datagram goes: HOST:PORT, or several separated by commas (IPv4 and IPv6
    /// may mix)
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    to: String,
    /// Relay only datagrams from senders in these address blocks (e.g. 192.0.2.0/24,
    /// 2001:db8::/32, 127.0.0.1); the others are counted and dropped
    #[arg(long, value_name = "CIDR[,CIDR...]")]
    from: Option<String>,
    /// Print a line of statistics every S seconds
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    stats: Option<f64>,
    /// Stop after relaying this many datagrams (of those --from lets in) [default: until
    /// Ctrl-C]
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// Why relaying stopped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Count,
    Interrupted,
}

pub fn run(args: RelayArgs) -> Result<i32, Fail> {
    let bind = args::address(&args.bind)?;
    let destinations = recipients(&args.to)?;
    let from = args
        .from
        .as_deref()
        .map(cidr::list)
        .transpose()
        .or_else(|why| fail(format!("--from: {why}")))?;
    let stats = args
        .stats
        .map(|s| args::seconds("--stats", s))
        .transpose()?;
    if args.count == Some(0) {
        return fail("--count 0 would relay nothing");
    }
    not_to_itself(bind, &destinations)?;
    let (input, offload) = open_input(bind)?;
    let local = input
        .local_address()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(bind);
    // Port 0: the port the OS picked could be a recipient's.
    not_to_itself(local, &destinations)?;
    let output = open_output(&destinations)?;
    // Before the first line: whoever reads it may interrupt at once.
    let cancel = interrupt::cancel_on_ctrl_c()?;
    say!(
        "relaying {local} -> {}",
        units::count(destinations.len() as u64, "recipient")
    );

    let mut relay = Relay {
        input: &input,
        output: &output,
        from: from.as_deref(),
        count: args.count,
        counters: Counters::default(),
        outgoing: destinations.iter().map(|&a| Outgoing::new(a)).collect(),
    };
    let end = relay.run(stats, &cancel)?;
    relay.report(end, offload);
    Ok(match end {
        End::Interrupted => EXIT_INTERRUPTED,
        End::Count => 0,
    })
}

/// `ADDR[,ADDR...]`: no port 0, no address twice; IPv4 and IPv6 may mix.
fn recipients(text: &str) -> Result<Vec<SocketAddr>, Fail> {
    let list = text
        .split(',')
        .map(|a| args::address(a.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(zero) = list.iter().find(|a| a.port() == 0) {
        return fail(format!(
            "recipient {zero} has port 0 (a recipient needs a real port)"
        ));
    }
    for (i, a) in list.iter().enumerate() {
        if list[..i].contains(a) {
            return fail(format!("recipient {a} is listed twice"));
        }
    }
    Ok(list)
}

/// Refuses a recipient that is the relay itself: every datagram would come back, forever.
fn not_to_itself(local: SocketAddr, destinations: &[SocketAddr]) -> Result<(), Fail> {
    match destinations.iter().find(|&&d| is_own_address(local, d)) {
        Some(own) => fail(format!(
            "recipient {own} is the relay's own address {local}: every datagram would come back"
        )),
        None => Ok(()),
    }
}

/// Whether datagrams sent to `to` would come back to a relay bound to `local`.
fn is_own_address(local: SocketAddr, to: SocketAddr) -> bool {
    let (here, there) = (local.ip().to_canonical(), to.ip().to_canonical());
    local.port() == to.port()
        && (here == there
            || (here.is_unspecified() && (there.is_loopback() || there.is_unspecified())))
}

/// The bound receiving socket, with receive offload on where the kernel has it (returned
/// as the second value).
fn open_input(bind: SocketAddr) -> Result<(Socket, bool), Fail> {
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, None)
        .context(|| "cannot open a UDP socket".into())?;
    if bind.is_ipv6() {
        // [::] takes IPv4 senders too, whatever the system's default (net.ipv6.bindv6only).
        let _ = socket.as_socket2().set_only_v6(false);
    }
    // Best effort: the OS may cap it (net.core.rmem_max).
    let _ = socket.as_socket2().set_recv_buffer_size(RECEIVE_BUFFER);
    socket
        .bind(&SockAddr::from(bind))
        .context(|| format!("cannot bind {bind}"))?;
    // Where the kernel lacks UDP_GRO, one datagram a buffer: the same relay, more calls.
    let offload = socket.set_receive_offload(true).is_ok();
    Ok((socket, offload))
}

/// The sending socket: IPv4 when every recipient is, else IPv6 and dual-stack, so that one
/// `send_fanout` reaches every recipient (the library maps IPv4 addresses). Unbound: the
/// OS picks the port, and nothing sent back to it is ever relayed.
fn open_output(destinations: &[SocketAddr]) -> Result<Socket, Fail> {
    let ipv6 = destinations.iter().any(SocketAddr::is_ipv6);
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, None).context(|| {
        format!(
            "cannot open an {} UDP socket",
            if ipv6 { "IPv6" } else { "IPv4" }
        )
    })?;
    if ipv6 && destinations.iter().any(SocketAddr::is_ipv4) {
        socket
            .as_socket2()
            .set_only_v6(false)
            .context(|| "cannot send to IPv4 recipients from an IPv6 socket".into())?;
    }
    let _ = socket.as_socket2().set_send_buffer_size(SEND_BUFFER);
    Ok(socket)
}

struct Relay<'a> {
    input: &'a Socket,
    output: &'a Socket,
    from: Option<&'a [Cidr]>,
    count: Option<u64>,
    counters: Counters,
    outgoing: Vec<Outgoing>,
}

impl Relay<'_> {
    /// Relays until `--count` datagrams went or Ctrl-C, with a line of statistics every
    /// `stats`.
    fn run(&mut self, stats: Option<Duration>, cancel: &Cancellable) -> Result<End, Fail> {
        let mut batch = ReceiveBatch::new(BUFFERS, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
        let mut recipients: Vec<Recipient> = self
            .outgoing
            .iter()
            .map(|o| Recipient::new(SockAddr::from(o.address)))
            .collect();
        // The packets' list, kept from batch to batch so that it is allocated once.
        let mut spare: Vec<[IoSlice<'static>; 1]> = Vec::new();
        let mut next_stats = stats.map(|every| (Instant::now() + every, every));
        loop {
            if self.count.is_some_and(|c| self.counters.relayed >= c) {
                return Ok(End::Count);
            }
            if let Some((due, every)) = &mut next_stats {
                let now = Instant::now();
                if now >= *due {
                    say!("{}", self.stats_line());
                    // Late by more than an interval (a long fan-out): the next a whole
                    // interval on, not at once.
                    *due += *every;
                    if *due <= now {
                        *due = now + *every;
                    }
                }
                // A receive waits no longer than the next line is due.
                let left = due.saturating_duration_since(now);
                self.input
                    .set_timeout(Some(left.max(Duration::from_millis(1))));
            }
            match self
                .input
                .receive_batch(&mut batch, MsgFlags::empty(), Some(cancel))
            {
                Ok(_) => {}
                Err(e) if mmsg::is_cancelled(&e) => return Ok(End::Interrupted),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) => return Err(e).runtime_context(|| "receiving failed".into()),
            }
            let mut packets = recycle(std::mem::take(&mut spare));
            self.take(&batch, &mut packets);
            let went = self.fan_out(&packets, &mut recipients, cancel);
            spare = recycle(packets);
            if !went? {
                return Ok(End::Interrupted);
            }
        }
    }

    /// Puts the datagrams of `batch` that are to be relayed into `packets`, in order, each
    /// one vector pointing into the batch, and counts them.
    fn take<'b>(&mut self, batch: &'b ReceiveBatch, packets: &mut Vec<[IoSlice<'b>; 1]>) {
        let c = &mut self.counters;
        if !batch.is_empty() {
            c.arrived();
        }
        for buffer in batch.buffers() {
            let datagrams = buffer.datagram_count() as u64;
            c.received += datagrams;
            c.buffers += 1;
            c.bytes += buffer.data().len() as u64;
            let accepted = match (self.from, buffer.source_addr()) {
                (None, _) => true,
                (Some(blocks), Some(sender)) => cidr::any_contains(blocks, sender.ip()),
                (Some(_), None) => false,
            };
            if !accepted {
                c.dropped += datagrams;
                continue;
            }
            let room = self.count.map_or(u64::MAX, |n| n - c.relayed);
            let taken = datagrams.min(room);
            // With offload, a buffer may bring more than --count still wants.
            c.past_count += datagrams - taken;
            c.relayed += taken;
            let in_place = buffer.datagrams().take(taken as usize);
            packets.extend(in_place.map(|d| [IoSlice::new(d)]));
        }
    }

    /// Sends `packets` to every recipient with `send_fanout`. A recipient the OS refuses is
    /// set aside by `send_fanout` for the rest of the batch, and tried again with the next
    /// one; a datagram too large for one recipient (`EMSGSIZE`, Windows' `WSAEMSGSIZE`: an
    /// IPv6 datagram over IPv4's limit) is skipped for that recipient alone. Returns false when Ctrl-C cut it short.
    fn fan_out(
        &mut self,
        packets: &[[IoSlice<'_>; 1]],
        recipients: &mut [Recipient],
        cancel: &Cancellable,
    ) -> Result<bool, Fail> {
        if packets.is_empty() {
            return Ok(true);
        }
        for (r, o) in recipients.iter_mut().zip(&mut self.outgoing) {
            r.reset();
            o.skipped = 0;
            o.resumed_at = 0;
        }
        let total = packets.len();
        let finished = loop {
            match self
                .output
                .send_fanout(packets, recipients, MsgFlags::empty(), Some(cancel))
            {
                Ok(_) => {}
                Err(e) if mmsg::is_cancelled(&e) => break false,
                Err(e) => return Err(e).runtime_context(|| "sending failed".into()),
            }
            if cancel.is_cancelled() {
                break false;
            }
            let mut again = false;
            for (r, o) in recipients.iter_mut().zip(&mut self.outgoing) {
                if r.error.as_ref().and_then(io::Error::raw_os_error) == Some(platform::EMSGSIZE) {
                    r.packets_sent += 1;
                    o.skipped += 1;
                    o.resumed_at = r.packets_sent;
                    o.skip_error = r.error.take();
                    again |= r.packets_sent < total;
                }
            }
            if !again {
                break true;
            }
        };
        for (r, o) in recipients.iter().zip(&mut self.outgoing) {
            let skip_error = o.skip_error.take();
            let error = r.error.as_ref().or(skip_error.as_ref());
            let unsent = if r.error.is_some() {
                total - r.packets_sent
            } else {
                0
            };
            // Whether the last send to it went: something after the last skipped datagram.
            let works = r.error.is_none() && r.packets_sent > o.resumed_at;
            let sent = r.packets_sent - o.skipped;
            if let Some(line) = o.record(sent, o.skipped + unsent, error, works) {
                eprintln!("mmsg relay: {line}");
            }
        }
        Ok(finished)
    }
}

/// An empty list of packets, on `list`'s allocation, free of its lifetime: the list is
/// rebuilt for every batch without allocating once it is large enough. (A `Vec` collected
/// from its own `into_iter` keeps its allocation when the element's size and alignment do
/// not change, as here.)
fn recycle<'a, 'b>(mut list: Vec<[IoSlice<'a>; 1]>) -> Vec<[IoSlice<'b>; 1]> {
    list.clear();
    list.into_iter().map(|_| unreachable!("emptied")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked() {
        let list = recipients("127.0.0.1:1, [::1]:2").ok().unwrap();
        assert_eq!(list.len(), 2, "IPv4 and IPv6 mix");
        assert!(recipients("127.0.0.1:0").is_err());
        assert!(recipients("127.0.0.1:1,127.0.0.1:1").is_err());
        assert!(recipients("127.0.0.1:1,").is_err());
        assert!(recipients("nonsense").is_err());
    }

    #[test]
    fn the_relay_s_own_address_is_recognised() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(is_own_address(a("127.0.0.1:5004"), a("127.0.0.1:5004")));
        assert!(is_own_address(a("0.0.0.0:5004"), a("127.0.0.1:5004")));
        assert!(is_own_address(a("[::]:5004"), a("127.0.0.1:5004")));
        assert!(is_own_address(a("[::]:5004"), a("[::1]:5004")));
        assert!(is_own_address(
            a("[::ffff:127.0.0.1]:5004"),
            a("127.0.0.1:5004")
        ));
        assert!(!is_own_address(a("127.0.0.1:5004"), a("127.0.0.1:5005")));
        assert!(!is_own_address(a("127.0.0.1:5004"), a("127.0.0.2:5004")));
        assert!(!is_own_address(a("0.0.0.0:5004"), a("192.0.2.1:5004")));
    }

    #[test]
    fn recycling_keeps_the_allocation() {
        let data = [1u8, 2, 3];
        let mut list: Vec<[IoSlice<'_>; 1]> = Vec::with_capacity(100);
        list.push([IoSlice::new(&data)]);
        let at = list.as_ptr() as usize;
        let again: Vec<[IoSlice<'static>; 1]> = recycle(list);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr() as usize, again.capacity()), (at, 100));
    }
}
