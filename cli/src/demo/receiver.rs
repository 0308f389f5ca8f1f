//! A demo receiver: a thread receiving the video in batches with `receive_batch` (zero
//! copy, receive offload on where the kernel has it) and checking every packet (RTP header,
//! sequence, payload bytes).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use mmsg::{Cancellable, Domain, MsgFlags, ReceiveBatch, SockAddr, Socket, Type};

use super::video::{self, FULL_PAYLOAD, RTP_HEADER};
use crate::tally::Tally;
use crate::wire;

/// Buffers per receive call, of 64 KiB each (what receive offload may coalesce).
const BATCH: usize = 16;
const RECEIVE_BUFFER: usize = 8 << 20;

/// What one receiver got.
#[derive(Debug, Default)]
pub struct Received {
    pub tally: Tally,
    pub packets: u64,
    pub bytes: u64,
    /// Datagrams that are not a packet of the stream, or whose payload is wrong.
    pub corrupt: u64,
}

pub struct Receiver {
    pub address: SocketAddr,
    /// Datagrams received so far, for the sender to see when all arrived.
    pub progress: Arc<AtomicU64>,
    thread: JoinHandle<io::Result<Received>>,
}

impl Receiver {
    /// A receiver on 127.0.0.1 (a port the OS picks) that runs until `stop` is cancelled.
    pub fn start(stop: &Cancellable) -> io::Result<Receiver> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        // The OS may cap it (net.core.rmem_max); the demo paces frames to stay well below.
        let _ = socket.as_socket2().set_recv_buffer_size(RECEIVE_BUFFER);
        socket.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        let address = socket
            .local_address()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound address is not IP"))?;
        let progress = Arc::new(AtomicU64::new(0));
        let (stop, seen) = (stop.clone(), progress.clone());
        let thread = thread::Builder::new()
            .name(format!("receiver {address}"))
            .spawn(move || receive(&socket, &stop, &seen))?;
        Ok(Receiver {
            address,
            progress,
            thread,
        })
    }

    /// What it received (call after cancelling its `stop`).
    pub fn finish(self) -> io::Result<Received> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("receiver thread panicked")))
    }
}

fn receive(socket: &Socket, stop: &Cancellable, progress: &AtomicU64) -> io::Result<Received> {
    // The zero-copy receive, with receive offload where the kernel has it: coalesced
    // buffers are walked in place.
    let _ = socket.set_receive_offload(true);
    let mut batch = ReceiveBatch::new(BATCH, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
    let mut got = Received::default();
    loop {
        match socket.receive_batch(&mut batch, MsgFlags::empty(), Some(stop)) {
            Ok(_) => {}
            Err(e) if mmsg::is_cancelled(&e) => return Ok(got),
            Err(e) => return Err(e),
        }
        let before = got.packets;
        for buffer in batch.buffers() {
            let truncated = buffer.flags().contains(MsgFlags::TRUNC);
            for datagram in buffer.datagrams() {
                got.packets += 1;
                got.bytes += datagram.len() as u64;
                check(&mut got, datagram, truncated);
            }
        }
        progress.fetch_add(got.packets - before, Ordering::Relaxed);
    }
}

/// Checks one datagram and records its stream packet number.
fn check(got: &mut Received, datagram: &[u8], truncated: bool) {
    let Some(seq) = video::parse_seq(datagram).filter(|_| !truncated) else {
        got.corrupt += 1;
        return;
    };
    // The stream packet number nearest the next expected one with this 16-bit sequence.
    let expected = got.tally.span();
    let step = seq.wrapping_sub(video::rtp_seq(expected)) as i16;
    let Some(n) = expected.checked_add_signed(i64::from(step)) else {
        got.corrupt += 1;
        return;
    };
    let payload = &datagram[RTP_HEADER..];
    if payload.is_empty() || payload.len() > FULL_PAYLOAD || !wire::is_generated(n, payload) {
        got.corrupt += 1;
        return;
    }
    got.tally.record(n);
}
