//! A demo receiver: a thread receiving the video in batches with `receive_messages` and
//! checking every packet (RTP header, sequence, payload bytes).

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use mmsg::{Cancellable, Domain, InputMessage, MsgFlags, SockAddr, Socket, Type};

use super::video::{self, FULL_PAYLOAD, RTP_HEADER};
use crate::tally::Tally;
use crate::wire;

const BATCH: usize = 64;
const ROOM: usize = 2048;
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
    let mut room = vec![0u8; BATCH * ROOM];
    let mut slots: Vec<[IoSliceMut; 1]> = room
        .chunks_mut(ROOM)
        .map(|b| [IoSliceMut::new(b)])
        .collect();
    let mut messages: Vec<InputMessage> = slots.iter_mut().map(|s| InputMessage::new(s)).collect();
    let mut got = Received::default();
    loop {
        let n = match socket.receive_messages(&mut messages, MsgFlags::empty(), Some(stop)) {
            Ok(n) => n,
            Err(e) if mmsg::is_cancelled(&e) => return Ok(got),
            Err(e) => return Err(e),
        };
        for m in &messages[..n] {
            let datagram = &m.vectors[0][..m.bytes_received.min(ROOM)];
            got.packets += 1;
            got.bytes += m.bytes_received as u64;
            check(&mut got, datagram, m.flags.contains(MsgFlags::TRUNC));
        }
        progress.fetch_add(n as u64, Ordering::Relaxed);
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
