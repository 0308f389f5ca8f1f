//! The tokio wrapper: batches sent and received by awaiting readiness.
//!
//! Over UDP on every OS. A sender that must await room needs a peer whose full queue
//! pushes back, a Unix datagram pair: those tests are Unix-only (UDP drops instead), and
//! the UDP tests that keep many datagrams in flight bound them so that nothing is dropped.
#![cfg(feature = "tokio")]

mod common;
use common::*;

use std::io::{IoSlice, IoSliceMut};

use mmsg::{AsyncSocket, InputMessage, MsgFlags, OutputMessage, Recipient};

#[tokio::test]
#[cfg(unix)] // only a Unix datagram peer fills up and makes the sender await room
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
async fn batches_through_a_udp_pair_arrive_whole_to_a_receiver_that_awaited_them() {
    // Chunk by chunk: a receiver task starts first and awaits (nothing is queued yet), the
    // batch is sent, and the reactor's wake-up brings every datagram, intact and in order.
    let (a, b) = udp_pair();
    let (a, b) = (
        AsyncSocket::new(a).unwrap(),
        std::sync::Arc::new(AsyncSocket::new(b).unwrap()),
    );
    let total = scaled(3000);
    let bodies: Vec<Vec<u8>> = (0..total as u64)
        .map(|i| payload(i, 1 + (i as usize % 60)))
        .collect();
    for (c, chunk) in bodies.chunks(64).enumerate() {
        let receiver = {
            let (b, count) = (std::sync::Arc::clone(&b), chunk.len());
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut bufs = vec![[0u8; 64]; 32];
                while got.len() < count {
                    let lens: Vec<usize> = {
                        let mut slots: Vec<[IoSliceMut; 1]> =
                            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
                        let want = (count - got.len()).min(slots.len());
                        let mut input: Vec<InputMessage> = slots[..want]
                            .iter_mut()
                            .map(|s| InputMessage::new(s))
                            .collect();
                        let n = tokio::time::timeout(
                            PATIENCE,
                            b.receive_messages(&mut input, MsgFlags::empty()),
                        )
                        .await
                        .expect("datagrams stopped coming")
                        .unwrap();
                        input[..n].iter().map(|m| m.bytes_received).collect()
                    };
                    for (buf, len) in bufs.iter().zip(lens) {
                        got.push(buf[..len].to_vec());
                    }
                }
                got
            })
        };
        // The receiver runs up to its first await (this runtime has one thread).
        tokio::task::yield_now().await;
        let vectors: Vec<[IoSlice; 1]> = chunk.iter().map(|b| [IoSlice::new(b)]).collect();
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(None, v))
            .collect();
        assert_eq!(
            a.send_messages(&mut batch, MsgFlags::empty())
                .await
                .unwrap(),
            chunk.len()
        );
        assert!(batch
            .iter()
            .zip(chunk)
            .all(|(m, b)| m.bytes_sent == b.len()));
        assert_eq!(receiver.await.unwrap(), chunk, "chunk {c}");
    }
    assert_nothing_queued(b.get_ref());
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

/// Four one-message sends over a connected socket to a closed port, on the portable path
/// (where a refusal met after a message went is kept): what each call returned.
fn refusals(outcomes: Vec<std::io::Result<usize>>) -> Vec<String> {
    outcomes
        .into_iter()
        .map(|r| match r {
            Ok(n) => format!("Ok({n})"),
            Err(e) => format!("Err({:?})", e.kind()),
        })
        .collect()
}

fn connected_to_a_closed_port() -> mmsg::Socket {
    let closed = udp4();
    let to = closed.local_address().unwrap();
    drop(closed);
    let s = udp4();
    s.set_portable_path(true);
    s.connect(&to, None).unwrap();
    s
}

/// Whether `outcome` is how a send reports an earlier datagram's ICMP port unreachable:
/// `ECONNREFUSED` on Unix; on Windows `WSAECONNRESET`, or `WSAECONNREFUSED` under wine 8.0
/// (Linux's, passed on).
fn is_refusal(outcome: &str) -> bool {
    outcome == "Err(ConnectionRefused)" || (cfg!(windows) && outcome == "Err(ConnectionReset)")
}

#[tokio::test]
async fn a_kept_error_comes_back_from_the_next_async_call_as_from_the_blocking_one() {
    let body = payload(4, 10);
    let v = [IoSlice::new(&body)];

    let blocking = connected_to_a_closed_port();
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let mut batch = [OutputMessage::new(None, &v); 2];
        outcomes.push(blocking.send_messages(&mut batch, MsgFlags::empty(), None));
    }
    let expected = refusals(outcomes);
    if cfg!(windows) {
        // When the refusal comes is the stack's: wine 8.0 reports it one send later than
        // Linux (["Ok(2)", refused, "Ok(1)", refused]). Some go, some are refused.
        assert!(expected[0].starts_with("Ok("), "{expected:?}");
        assert!(expected.iter().any(|o| is_refusal(o)), "{expected:?}");
    } else {
        assert_eq!(
            expected,
            [
                "Ok(1)",
                "Err(ConnectionRefused)",
                "Ok(1)",
                "Err(ConnectionRefused)"
            ]
        );
    }

    let s = AsyncSocket::new(connected_to_a_closed_port()).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let mut batch = [OutputMessage::new(None, &v); 2];
        outcomes.push(s.send_messages(&mut batch, MsgFlags::empty()).await);
    }
    assert_eq!(refusals(outcomes), expected);
}

#[test]
fn switching_the_socket_to_blocking_does_not_block_the_runtime() {
    // The runtime runs on a thread of its own, so that a blocked runtime fails this test
    // instead of hanging it.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let s = AsyncSocket::new(udp4()).unwrap();
            let sender = udp4();
            let to = s.get_ref().local_address().unwrap();
            // The runtime sees the socket readable; the datagram is then taken behind its
            // back, by the socket's own (blocking) call: the readiness tokio holds is stale.
            sender.send_to(&to, b"first", None).unwrap();
            sender.send_to(&to, b"second", None).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(s.receive_from(&mut buf).await.unwrap().0, 5);
            s.get_ref().set_blocking(true);
            s.get_ref().set_timeout(None);
            assert_eq!(s.get_ref().receive(&mut buf, None).unwrap(), 6);
            // An async receive must still leave the runtime free: its timeout fires.
            let waited = tokio::time::timeout(
                std::time::Duration::from_millis(100),
                s.receive_from(&mut buf),
            )
            .await;
            assert!(
                waited.is_err(),
                "the receive returned {waited:?} with nothing sent"
            );
            sender.send_to(&to, b"late", None).unwrap();
            let (n, _) = s.receive_from(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        let _ = done_tx.send(outcome);
    });
    let got = done_rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the runtime's thread was blocked by the socket's blocking mode");
    assert_eq!(got, b"late");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_and_receivers_share_one_socket() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // Two tasks send numbered datagrams through one socket, two receive from another;
    // every datagram arrives exactly once, intact. UDP drops what its receive queue cannot
    // hold, so a sender starts a chunk only while fewer than WINDOW are in flight.
    const WINDOW: usize = 200;
    let (a, b) = udp_pair();
    b.set_receive_buffer_size(1 << 20).unwrap();
    let (a, b) = (
        Arc::new(AsyncSocket::new(a).unwrap()),
        Arc::new(AsyncSocket::new(b).unwrap()),
    );
    let per_sender = scaled(500) as u32;
    let total = 2 * per_sender as usize;
    let sent = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for id in 0..2u32 {
        let (a, sent, received) = (Arc::clone(&a), Arc::clone(&sent), Arc::clone(&received));
        senders.push(tokio::spawn(async move {
            for chunk in (0..per_sender).collect::<Vec<_>>().chunks(50) {
                let deadline = std::time::Instant::now() + PATIENCE;
                // In flight: received first, so that it never exceeds the sent read after.
                let in_flight = || {
                    let arrived = received.lock().unwrap().len();
                    sent.load(Ordering::SeqCst) - arrived
                };
                while in_flight() >= WINDOW {
                    assert!(std::time::Instant::now() < deadline, "receivers stalled");
                    tokio::task::yield_now().await;
                }
                let bodies: Vec<[u8; 8]> = chunk
                    .iter()
                    .map(|&i| {
                        let mut b = [0u8; 8];
                        b[..4].copy_from_slice(&id.to_be_bytes());
                        b[4..].copy_from_slice(&i.to_be_bytes());
                        b
                    })
                    .collect();
                let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
                let mut batch: Vec<OutputMessage> = vectors
                    .iter()
                    .map(|v| OutputMessage::new(None, v))
                    .collect();
                // Counted before the send: the receivers may be quicker than this task.
                sent.fetch_add(chunk.len(), Ordering::SeqCst);
                assert_eq!(
                    a.send_messages(&mut batch, MsgFlags::empty())
                        .await
                        .unwrap(),
                    chunk.len()
                );
            }
        }));
    }
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let (b, received) = (Arc::clone(&b), Arc::clone(&received));
        receivers.push(tokio::spawn(async move {
            let mut batch = mmsg::ReceiveBatch::new(16, 64);
            loop {
                if received.lock().unwrap().len() >= total {
                    return;
                }
                let got =
                    tokio::time::timeout(PATIENCE, b.receive_batch(&mut batch, MsgFlags::empty()))
                        .await;
                match got {
                    Ok(result) => {
                        result.unwrap();
                        let mut all = received.lock().unwrap();
                        all.extend(batch.datagrams().map(|(_, d)| d.to_vec()));
                    }
                    // The other receiver took the last ones.
                    Err(_) => return,
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    while received.lock().unwrap().len() < total {
        assert!(
            std::time::Instant::now() < deadline,
            "not everything arrived"
        );
        tokio::task::yield_now().await;
    }
    for r in receivers {
        r.abort();
    }
    let mut got = received.lock().unwrap().clone();
    got.sort();
    let mut expected: Vec<Vec<u8>> = (0..2u32)
        .flat_map(|id| (0..per_sender).map(move |i| [id.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg(unix)] // only a Unix datagram peer fills up, so that a send future waits mid-batch
async fn dropped_futures_mid_batch_and_the_one_attempt_forms() {
    // More datagrams than a Unix pair's queue holds: the whole-batch future is dropped
    // while it waits for room. What went is then a prefix of the batch, intact and in
    // order, and the socket carries on.
    let (a, b) = unix_pair();
    let (a, b) = (AsyncSocket::new(a).unwrap(), AsyncSocket::new(b).unwrap());
    let bodies: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        a.send_messages(&mut batch[..], MsgFlags::empty()),
    )
    .await;
    assert!(dropped.is_err(), "2000 datagrams fit a Unix pair's queue?");
    let mut received = mmsg::ReceiveBatch::new(64, 16);
    let mut prefix: Vec<Vec<u8>> = Vec::new();
    b.readable().await.unwrap();
    loop {
        match b.try_receive_batch(&mut received, MsgFlags::empty()) {
            Ok(_) => prefix.extend(received.datagrams().map(|(_, d)| d.to_vec())),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(!prefix.is_empty() && prefix.len() < bodies.len());
    assert_eq!(prefix[..], bodies[..prefix.len()]);

    // A receive future dropped before anything came took nothing.
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        b.receive_batch(&mut received, MsgFlags::empty()),
    )
    .await;
    assert!(waited.is_err());

    // The one-attempt forms account for every message: a sender task loops over
    // try_send_messages after writable(), the receiver over receive_batch.
    let total = bodies.len();
    let b = std::sync::Arc::new(b);
    let receiver = {
        let b = std::sync::Arc::clone(&b);
        tokio::spawn(async move {
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut received = mmsg::ReceiveBatch::new(64, 16);
            while got.len() < total {
                tokio::time::timeout(PATIENCE, b.receive_batch(&mut received, MsgFlags::empty()))
                    .await
                    .expect("datagrams stopped coming")
                    .unwrap();
                got.extend(received.datagrams().map(|(_, d)| d.to_vec()));
            }
            got
        })
    };
    let mut sent = 0;
    let mut polled = false;
    while sent < total {
        if polled {
            a.writable().await.unwrap();
            match a.try_send_messages(&mut batch[sent..], MsgFlags::empty()) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        } else {
            let rest = &mut batch[sent..];
            sent += std::future::poll_fn(|cx| a.poll_send_messages(cx, rest, MsgFlags::empty()))
                .await
                .unwrap();
        }
        polled = !polled;
    }
    assert_eq!(sent, total);
    assert_eq!(receiver.await.unwrap(), bodies);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_receive_future_took_nothing_and_the_one_attempt_forms_over_udp() {
    let (a, b) = udp_pair();
    let (a, b) = (AsyncSocket::new(a).unwrap(), AsyncSocket::new(b).unwrap());
    // A receive future dropped while it waited took nothing: what comes next is whole.
    let mut received = mmsg::ReceiveBatch::new(64, 16);
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        b.receive_batch(&mut received, MsgFlags::empty()),
    )
    .await;
    assert!(waited.is_err());
    assert!(received.is_empty());

    // The one-attempt forms account for every message, chunk by chunk (each chunk read
    // back before the next is sent, as UDP drops what its queue cannot hold): sending with
    // try_send_messages after writable() or with poll_send_messages, receiving with
    // try_receive_batch after readable() or with receive_batch.
    let total = scaled(2000);
    let bodies: Vec<Vec<u8>> = (0..total as u32)
        .map(|i| i.to_be_bytes().to_vec())
        .collect();
    let vectors: Vec<[IoSlice; 1]> = bodies.iter().map(|b| [IoSlice::new(b)]).collect();
    let mut batch: Vec<OutputMessage> = vectors
        .iter()
        .map(|v| OutputMessage::new(None, v))
        .collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut sent = 0;
    for round in 0.. {
        if sent == total {
            break;
        }
        let end = (sent + 50).min(total);
        while sent < end {
            let rest = &mut batch[sent..end];
            if round % 2 == 0 {
                a.writable().await.unwrap();
                match a.try_send_messages(rest, MsgFlags::empty()) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            } else {
                sent +=
                    std::future::poll_fn(|cx| a.poll_send_messages(cx, rest, MsgFlags::empty()))
                        .await
                        .unwrap();
            }
        }
        while got.len() < sent {
            if round % 4 < 2 {
                b.readable().await.unwrap();
                match b.try_receive_batch(&mut received, MsgFlags::empty()) {
                    Ok(_) => got.extend(received.datagrams().map(|(_, d)| d.to_vec())),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            } else {
                tokio::time::timeout(PATIENCE, b.receive_batch(&mut received, MsgFlags::empty()))
                    .await
                    .expect("datagrams stopped coming")
                    .unwrap();
                got.extend(received.datagrams().map(|(_, d)| d.to_vec()));
            }
        }
    }
    assert!(batch.iter().all(|m| m.bytes_sent == 4));
    assert_eq!(got, bodies);
    assert_nothing_queued(b.get_ref());
}
