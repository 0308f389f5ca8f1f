//! Measures the shortest run of same-destination datagrams that segmentation offload
//! sends faster than plain `sendmmsg`: the figure behind `gso::MIN_RUN`.
//!
//! `cargo run --release --example gso_run_length`: for run lengths 1 to 8, 64-datagram
//! batches of 1200-byte datagrams where every run of L goes to one of 8 receivers on
//! loopback (which never read: the kernel drops what does not fit), sent with offload on
//! and off, interleaved, best of 5. Prints packets per second and the ratio on/off.

use std::io::IoSlice;
use std::time::Instant;

use mmsg::{Domain, MsgFlags, OutputMessage, SockAddr, Socket, Type};

fn udp() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("socket");
    s.bind(&SockAddr::from(
        "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(),
    ))
    .expect("bind");
    s
}

fn rate(sender: &Socket, batch: &mut [OutputMessage], calls: usize) -> f64 {
    let start = Instant::now();
    let mut sent = 0;
    for _ in 0..calls {
        sent += sender
            .send_messages(batch, MsgFlags::empty(), None)
            .unwrap_or(0);
    }
    sent as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let receivers: Vec<Socket> = (0..8).map(|_| udp()).collect();
    let addresses: Vec<SockAddr> = receivers
        .iter()
        .map(|r| r.local_address().unwrap())
        .collect();
    let payload = vec![0x5Au8; 1200];
    let vectors = [IoSlice::new(&payload)];
    let sender = udp();
    println!("run  gso-on pps   gso-off pps   on/off");
    for run in 1..=8usize {
        let mut batch: Vec<OutputMessage> = (0..64)
            .map(|i| OutputMessage::new(Some(&addresses[(i / run) % 8]), &vectors))
            .collect();
        let (mut on, mut off) = (0f64, 0f64);
        for _ in 0..5 {
            sender.set_segmentation_offload(true);
            on = on.max(rate(&sender, &mut batch, 300));
            sender.set_segmentation_offload(false);
            off = off.max(rate(&sender, &mut batch, 300));
        }
        println!("{run:>3}  {on:>11.0}  {off:>12.0}   {:.2}", on / off);
    }
}
