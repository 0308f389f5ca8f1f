//! The tokio wrapper: batches sent and received by awaiting readiness.
#![cfg(feature = "tokio")]

mod common;
use common::*;

use std::io::{IoSlice, IoSliceMut};

use mmsg::{AsyncSocket, InputMessage, MsgFlags, OutputMessage, Recipient};

#[tokio::test]
async fn a_big_batch_through_a_full_unix_pair_arrives_whole() {
    // 3000 datagrams cannot all be queued: the sender awaits room while the receiver task
    // drains, and every datagram arrives intact and in order.
    let (a, b) = unix_pair();
    let (a, b) = (AsyncSocket::new(a).unwrap(), AsyncSocket::new(b).unwrap());
    let total = 3000;
    let receiver = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut bufs = vec![[0u8; 64]; 32];
        while got.len() < total {
            let lens: Vec<usize> = {
                let mut slots: Vec<[IoSliceMut; 1]> =
                    bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                let mut input: Vec<InputMessage> =
                    slots.iter_mut().map(|s| InputMessage::new(s)).collect();
                let n = b
                    .receive_messages(&mut input, MsgFlags::empty())
                    .await
                    .unwrap();
                input[..n].iter().map(|m| m.bytes_received).collect()
            };
            for (buf, len) in bufs.iter().zip(lens) {
                got.push(buf[..len].to_vec());
            }
        }
        got
    });
    let bodies: Vec<Vec<u8>> = (0..total as u64)
        .map(|i| payload(i, 1 + (i as usize % 60)))
        .collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    assert_eq!(
        a.send_messages(&mut batch, MsgFlags::empty())
            .await
            .unwrap(),
        total
    );
    assert!(batch
        .iter()
        .zip(&bodies)
        .all(|(m, b)| m.bytes_sent == b.len()));
    let got = receiver.await.unwrap();
    assert_eq!(got, bodies);
}

#[tokio::test]
async fn fanout_and_receive_from_over_udp() {
    let receivers: Vec<AsyncSocket> = (0..3).map(|_| AsyncSocket::new(udp4()).unwrap()).collect();
    let mut recipients: Vec<Recipient> = receivers
        .iter()
        .map(|r| Recipient::new(r.get_ref().local_address().unwrap()))
        .collect();
    let headers: Vec<[u8; 2]> = (0..10u16).map(|i| i.to_be_bytes()).collect();
    let body = payload(1, 500);
    let packets: Vec<[IoSlice; 2]> = headers
        .iter()
        .map(|h| [IoSlice::new(h), IoSlice::new(&body)])
        .collect();
    let sender = AsyncSocket::new(udp4()).unwrap();
    let sent = sender
        .send_fanout(&packets, &mut recipients, MsgFlags::empty())
        .await
        .unwrap();
    assert_eq!(sent, 30);
    let from = sender.get_ref().local_address().unwrap();
    for r in &receivers {
        for seq in 0..10u16 {
            let mut buf = [0u8; 1024];
            let (n, addr) = r.receive_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..2], &seq.to_be_bytes());
            assert_eq!(&buf[2..n], &body[..]);
            assert_eq!(addr, from);
        }
    }
    let to = receivers[0].get_ref().local_address().unwrap();
    assert_eq!(sender.send_to(&to, b"last").await.unwrap(), 4);
    let mut buf = [0u8; 8];
    let (n, _) = receivers[0].receive_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"last");
}
