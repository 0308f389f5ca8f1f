//! `mmsg sink`: receives what `mmsg send` sends, reports loss and reordering, and writes
//! the reassembled file.

use std::io::{IoSliceMut, Write};
use std::time::{Duration, Instant};

use clap::Args;
use mmsg::{Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};

use crate::args::{self, fail, Fail};
use crate::wire::{self, Header};

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    mmsg sink --bind 127.0.0.1:5004 --output copy.ts\n  \
    mmsg sink --bind [::1]:5004 --count 100000 --timeout 2")]
pub struct SinkArgs {
    /// Address to receive on (port 0: any free port; the address is printed first).
    #[arg(long, value_name = "ADDR")]
    bind: String,
    /// Write the file that was sent here.
    #[arg(long, value_name = "PATH")]
    output: Option<std::path::PathBuf>,
    /// Stop after this many datagrams.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds without a datagram.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

pub fn run(a: SinkArgs) -> Result<(), Fail> {
    let bind = args::address(&a.bind)?;
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        return fail("--timeout must be a positive number of seconds");
    }
    let domain = if bind.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, None)?;
    let _ = socket.as_socket2().set_recv_buffer_size(16 << 20);
    if let Err(e) = socket.bind(&SockAddr::from(bind)) {
        return fail(format!("cannot bind {bind}: {e}"));
    }
    let local = socket.local_address()?.as_socket().map_or(bind, |a| a);
    println!("listening on {local}");
    let _ = std::io::stdout().flush();
    socket.set_timeout(Some(Duration::from_secs_f64(a.timeout)));

    let mut bufs = vec![vec![0u8; 65_536]; 64];
    let mut seen: Vec<bool> = Vec::new();
    let (mut received, mut distinct, mut reordered, mut highest) = (0u64, 0u64, 0u64, None::<u64>);
    let mut total = None::<u64>;
    let mut file: Vec<u8> = Vec::new();
    let mut first = None::<Instant>;
    loop {
        if a.count.is_some_and(|c| received >= c) || total.is_some_and(|t| distinct >= t) {
            break;
        }
        let lens: Vec<usize> = {
            let mut vs: Vec<[IoSliceMut; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let mut ms: Vec<InputMessage> = vs.iter_mut().map(|v| InputMessage::new(v)).collect();
            match socket.receive_messages(&mut ms, MsgFlags::empty(), None) {
                Ok(n) => ms[..n].iter().map(|m| m.bytes_received).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e.into()),
            }
        };
        first.get_or_insert_with(Instant::now);
        for (buf, len) in bufs.iter().zip(lens) {
            received += 1;
            let Some(h) = Header::decode(&buf[..len]) else {
                continue;
            };
            total = Some(h.total);
            let seq = h.seq as usize;
            if seq >= seen.len() {
                seen.resize(seq + 1, false);
            }
            if highest.is_some_and(|hi| h.seq < hi) {
                reordered += 1;
            }
            highest = Some(highest.map_or(h.seq, |hi| hi.max(h.seq)));
            if !seen[seq] {
                seen[seq] = true;
                distinct += 1;
                if h.flags & wire::FILE != 0 {
                    let at = seq * h.chunk as usize;
                    let body = &buf[wire::LEN..len];
                    if file.len() < at + body.len() {
                        file.resize(at + body.len(), 0);
                    }
                    file[at..at + body.len()].copy_from_slice(body);
                }
            }
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let expected = total.unwrap_or(distinct);
    let lost = expected.saturating_sub(distinct);
    println!(
        "received {received} datagrams ({distinct} distinct of {expected}), lost {lost}, reordered {reordered}, {:.0} datagrams/s",
        received as f64 / secs.max(1e-9)
    );
    if let Some(path) = &a.output {
        if let Err(e) = std::fs::write(path, &file) {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
        println!("wrote {} bytes to {}", file.len(), path.display());
    }
    if lost > 0 || received == 0 {
        std::process::exit(1);
    }
    Ok(())
}
