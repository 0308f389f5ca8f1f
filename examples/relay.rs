//! A UDP relay: every datagram received on one socket goes, unchanged and in order, to
//! every recipient, with no copy in between. `receive_batch` fills a `ReceiveBatch`, and
//! the datagrams, where they lie in it, are the packets of one `send_fanout`. (`mmsg relay`
//! is this loop with sender filters, statistics and failure reports.)
//!
//! `cargo run --example relay` runs it on loopback: a sender streams numbered datagrams of
//! mixed sizes to the relay, which fans them out to 3 receivers, each checking every byte
//! and the order. It ends by itself, in well under a second.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mmsg::{Domain, MsgFlags, OutputMessage, ReceiveBatch, Recipient, SockAddr, Socket, Type};

/// Relays `count` datagrams from `input` to every recipient.
fn relay(
    input: &Socket,
    output: &Socket,
    recipients: &mut [Recipient],
    count: usize,
) -> io::Result<()> {
    // With receive offload the kernel hands over runs of one sender's datagrams in one
    // buffer; where it lacks it, a buffer holds one datagram, and the loop is the same.
    let _ = input.set_receive_offload(true);
    let mut batch = ReceiveBatch::new(64, ReceiveBatch::OFFLOAD_BUFFER_SIZE);
    let mut relayed = 0;
    while relayed < count {
        input.receive_batch(&mut batch, MsgFlags::empty(), None)?;
        // One vector per datagram, pointing into the batch. Runs of equal size go out
        // segmented (UDP GSO) by the library; the others plainly.
        let packets: Vec<[IoSlice; 1]> = batch
            .datagrams()
            .map(|(_sender, d)| [IoSlice::new(d)])
            .collect();
        for r in recipients.iter_mut() {
            r.reset(); // every recipient from the first packet, a failed one tried again
        }
        output.send_fanout(&packets, recipients, MsgFlags::empty(), None)?;
        for r in recipients.iter() {
            if let (Some(error), Some(to)) = (&r.error, r.address.as_socket()) {
                // Set aside for the rest of this batch; the others got everything.
                eprintln!("{to}: {error}");
            }
        }
        relayed += packets.len();
    }
    Ok(())
}

const COUNT: usize = 3000;
const RECEIVERS: usize = 3;
const PATIENCE: Duration = Duration::from_secs(5);

/// Datagram `seq`: runs of 1200 bytes, a shorter one every tenth, all bytes numbered.
fn datagram(seq: usize) -> Vec<u8> {
    let len = if seq % 10 == 9 { 8 + seq % 300 } else { 1200 };
    let mut d: Vec<u8> = (0..len)
        .map(|i| (i ^ seq.wrapping_mul(151)) as u8)
        .collect();
    d[..8].copy_from_slice(&(seq as u64).to_be_bytes());
    d
}

fn udp(address: &str) -> io::Result<Socket> {
    let address: SocketAddr = address.parse().expect("an address");
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, None)?;
    let _ = socket.as_socket2().set_recv_buffer_size(1 << 20);
    socket.bind(&SockAddr::from(address))?;
    Ok(socket)
}

fn main() -> io::Result<()> {
    // The receivers, in threads, each checking every datagram, in order.
    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..RECEIVERS).map(|_| AtomicUsize::new(0)).collect());
    let mut recipients = Vec::new();
    let mut receivers = Vec::new();
    for k in 0..RECEIVERS {
        let socket = udp("127.0.0.1:0")?;
        socket.set_timeout(Some(PATIENCE));
        recipients.push(Recipient::new(socket.local_address()?));
        let progress = Arc::clone(&progress);
        receivers.push(thread::spawn(move || -> io::Result<()> {
            let mut buf = [0u8; 2048];
            for seq in 0..COUNT {
                let n = socket.receive(&mut buf, None)?; // times out if one was lost
                assert!(
                    buf[..n] == datagram(seq),
                    "receiver {k}: datagram {seq} differs"
                );
                progress[k].store(seq + 1, Ordering::Release);
            }
            Ok(())
        }));
    }

    // The relay's sockets: one to receive on, one to send from.
    let input = udp("127.0.0.1:0")?;
    input.set_timeout(Some(PATIENCE)); // a lost datagram ends the demo instead of hanging it
    let output = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    let to = input.local_address()?;

    // The sender: bursts of 16 in one call each, at most 64 datagrams ahead of the slowest
    // receiver, so that no receive buffer overflows however busy the machine is.
    let sender = thread::spawn(move || -> io::Result<()> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
        let datagrams: Vec<Vec<u8>> = (0..COUNT).map(datagram).collect();
        let deadline = Instant::now() + PATIENCE;
        for first in (0..COUNT).step_by(16) {
            while first
                > progress
                    .iter()
                    .map(|p| p.load(Ordering::Acquire))
                    .min()
                    .unwrap_or(0)
                    + 64
            {
                if Instant::now() > deadline {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                thread::sleep(Duration::from_micros(100));
            }
            let burst = &datagrams[first..(first + 16).min(COUNT)];
            let vectors: Vec<[IoSlice; 1]> = burst.iter().map(|d| [IoSlice::new(d)]).collect();
            let mut messages: Vec<OutputMessage> = vectors
                .iter()
                .map(|v| OutputMessage::new(Some(&to), v))
                .collect();
            socket.send_messages(&mut messages, MsgFlags::empty(), None)?;
        }
        Ok(())
    });

    relay(&input, &output, &mut recipients, COUNT)?;
    sender.join().expect("sender")?;
    for receiver in receivers {
        receiver.join().expect("receiver")?;
    }
    println!(
        "relayed {COUNT} datagrams to {RECEIVERS} receivers, every byte checked, in order: \
         {} receive and {} send system calls (receive offload {})",
        input.syscall_count(),
        output.syscall_count(),
        if input.receive_offload() { "on" } else { "off" },
    );
    Ok(())
}
