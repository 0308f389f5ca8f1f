//! `WSASendMsg`, one datagram per call, with the header built straight over the caller's
//! buffers.
//!
//! `IoSlice` is ABI-compatible with `WSABUF` and `SockAddr` holds a `SOCKADDR_STORAGE`, so
//! a header points at the caller's vectors and address as they are: nothing is copied but
//! IPv4 addresses that an IPv6 socket must send as IPv4-mapped, and control messages.

use std::io;
use std::ptr;
use std::sync::Mutex;

use socket2::SockAddr;
use windows_sys::Win32::Networking::WinSock as ws;

use super::{cvt, handle, os_flags, IoVec, RawSocket};
use crate::control::{self, ControlMessage};
use crate::gso;
use crate::send::{ipv4_mapped, Batch};
use crate::sys::cmsg;

/// Buffers reused from call to call so that sending does not allocate once warmed up.
/// They hold nothing between calls: every pointer in them is rewritten before each use.
#[derive(Default)]
pub(crate) struct SendScratch {
    /// Control messages, aligned for `WSACMSGHDR`.
    control: Vec<u64>,
    /// The vectors of a segmented run, laid end to end (pointers only: no payload copied).
    iovecs: Vec<IoVec>,
    /// The segment size of the last `send_batch`, where it sent a segmented run.
    segment: Option<usize>,
}

// SAFETY: the raw pointers inside the vectors are only written and read during one call,
// by the thread that holds the socket's scratch lock; between calls they are dead values.
unsafe impl Send for SendScratch {}

impl SendScratch {
    /// The segment size of the last `send_batch`, where it was a segmented send: an error
    /// for it may be the offload's, not the messages'.
    pub(crate) fn first_segment(&self) -> Option<usize> {
        self.segment
    }
}

/// Sends message `index` of `batch` with one `WSASendMsg`; records its bytes. Returns 1.
///
/// A message with no control messages needs no scratch (its header lives on the stack, a
/// mapped address too), so `scratch` is only locked for the others.
pub(crate) fn send_one<B: Batch + ?Sized>(
    socket: RawSocket,
    scratch: &Mutex<SendScratch>,
    batch: &mut B,
    index: usize,
    map_v4: bool,
    flags: i32,
) -> io::Result<usize> {
    if batch.message(index).control_messages.is_empty() {
        send_message(socket, None, batch, index, map_v4, flags)
    } else {
        let mut scratch = scratch.lock().unwrap_or_else(|e| e.into_inner());
        send_message(socket, Some(&mut scratch), batch, index, map_v4, flags)
    }
}

/// Winsock has no batch call: the engine asks only with offload on (`gso`, the largest
/// segment to coalesce). Sends the run of messages from `start` that can be coalesced as
/// one `UDP_SEND_MSG_SIZE` send gathered from their own vectors, or message `start` alone;
/// records the bytes of those sent and returns how many were.
pub(crate) fn send_batch<B: Batch + ?Sized>(
    socket: RawSocket,
    scratch: &mut SendScratch,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    gso: Option<usize>,
    flags: i32,
) -> io::Result<usize> {
    scratch.segment = None;
    scratch.iovecs.clear();
    let run = match gso {
        Some(max_segment) => {
            let first = batch.message(start);
            gso::run(batch, start, first, max_segment, &mut scratch.iovecs)
        }
        None => gso::Run {
            count: 1,
            segment: 0,
            last: 0,
        },
    };
    if run.segment == 0 {
        return send_message(socket, Some(scratch), batch, start, map_v4, flags);
    }
    let message = batch.message(start);
    let mapped = mapped(message.address, map_v4);
    let address = mapped.as_ref().or(message.address);
    let control = encode(
        &mut scratch.control,
        &[ControlMessage::UdpSegment(run.segment as u16)],
    )?;
    scratch.segment = Some(run.segment);
    send_buffers(socket, address, &scratch.iovecs, control, flags)?;
    let last = start + run.count - 1;
    for index in start..last {
        batch.set_bytes_sent(index, run.segment);
    }
    batch.set_bytes_sent(last, run.last);
    Ok(run.count)
}

/// `send_one`, with the control messages (if any) encoded into `scratch`.
fn send_message<B: Batch + ?Sized>(
    socket: RawSocket,
    scratch: Option<&mut SendScratch>,
    batch: &mut B,
    index: usize,
    map_v4: bool,
    flags: i32,
) -> io::Result<usize> {
    let message = batch.message(index);
    let mapped = mapped(message.address, map_v4);
    let address = mapped.as_ref().or(message.address);
    let control = match scratch {
        Some(scratch) if !message.control_messages.is_empty() => {
            encode(&mut scratch.control, message.control_messages)?
        }
        _ => &mut [],
    };
    // SAFETY: `IoSlice` is ABI-compatible with WSABUF on Windows (std guarantees it), so
    // the vectors can be viewed as the WSABUFs Winsock takes, for as long as they live.
    let buffers = unsafe {
        std::slice::from_raw_parts(
            message.vectors.as_ptr().cast::<ws::WSABUF>(),
            message.vectors.len(),
        )
    };
    let sent = send_buffers(socket, address, buffers, control, flags)?;
    batch.set_bytes_sent(index, sent);
    Ok(1)
}

/// The IPv4-mapped form of `address` where an IPv6 socket must send it so.
fn mapped(address: Option<&SockAddr>, map_v4: bool) -> Option<SockAddr> {
    address.filter(|a| map_v4 && a.is_ipv4()).map(ipv4_mapped)
}

/// `messages` encoded into `control` (resized to fit, zeroed first): the control buffer.
fn encode<'c>(
    control: &'c mut Vec<u64>,
    messages: &[ControlMessage<'_>],
) -> io::Result<&'c mut [u64]> {
    control.clear();
    control.resize(cmsg::words(control::space(messages)), 0);
    let len = cmsg::encode(control, messages)?;
    Ok(&mut control[..cmsg::words(len)])
}

/// One `WSASendMsg` of `buffers` to `address` (none: the connected peer) with the encoded
/// control messages in `control` (none where it is empty); the bytes sent.
fn send_buffers(
    socket: RawSocket,
    address: Option<&SockAddr>,
    buffers: &[ws::WSABUF],
    control: &mut [u64],
    flags: i32,
) -> io::Result<usize> {
    let control = match control {
        [] => ws::WSABUF {
            len: 0,
            buf: ptr::null_mut(),
        },
        words => ws::WSABUF {
            len: std::mem::size_of_val(words) as u32,
            buf: words.as_mut_ptr().cast(),
        },
    };
    let header = ws::WSAMSG {
        name: address.map_or(ptr::null_mut(), |a| a.as_ptr() as *mut ws::SOCKADDR),
        namelen: address.map_or(0, SockAddr::len),
        lpBuffers: buffers.as_ptr() as *mut ws::WSABUF,
        dwBufferCount: buffers.len() as u32,
        Control: control,
        dwFlags: 0,
    };
    let mut sent = 0u32;
    // SAFETY: every pointer in `header` points into `address`, `buffers` (whose own
    // pointers point into the caller's vectors) or `control`, all borrowed for the whole
    // call, with their true lengths. Winsock only reads them. No overlapped I/O: the call
    // completes before it returns.
    let rc = unsafe {
        ws::WSASendMsg(
            handle(socket),
            &header,
            os_flags(flags),
            &mut sent,
            ptr::null_mut(),
            None,
        )
    };
    cvt(rc)?;
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::net::UdpSocket;

    use super::*;
    use crate::message::OutputMessage;

    /// A run goes out as one `WSASendMsg` gathered from the messages' own vectors (two of
    /// them back to back in one buffer, merged into one vector). Where the stack honours the
    /// offload the receiver gets the three datagrams; where it ignores it (wine) it gets
    /// them as one, which shows what the single send carried.
    #[test]
    fn a_run_is_one_send_over_the_messages_vectors() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = socket2::Socket::from(UdpSocket::bind("127.0.0.1:0").unwrap());
        let to = SockAddr::from(receiver.local_addr().unwrap());
        let packets = *b"aaaabbbbcc";
        let head = *b"xy";
        let vectors = [
            [IoSlice::new(&packets[..4])],
            [IoSlice::new(&packets[4..8])],
            [IoSlice::new(&packets[8..])],
        ];
        let with_head = [IoSlice::new(&head), IoSlice::new(b"zz")];
        let mut batch: Vec<OutputMessage> = vectors
            .iter()
            .map(|v| OutputMessage::new(Some(&to), v))
            .collect();
        batch.push(OutputMessage::new(Some(&to), &with_head));
        let mut scratch = SendScratch::default();
        let raw = super::super::raw_socket(&sender);
        let sent = send_batch(raw, &mut scratch, &mut batch[..], 0, false, Some(1000), 0);
        assert_eq!(sent.unwrap(), 3, "the equal-size run, the last shorter");
        assert_eq!(scratch.first_segment(), Some(4));
        assert_eq!(scratch.iovecs.len(), 1, "back-to-back vectors are one");
        let sizes: Vec<usize> = batch.iter().map(|m| m.bytes_sent).collect();
        assert_eq!(sizes, [4, 4, 2, 0]);
        // The fourth message is of another size: it goes alone.
        assert_eq!(
            send_batch(raw, &mut scratch, &mut batch[..], 3, false, Some(1000), 0).unwrap(),
            1
        );
        assert_eq!((batch[3].bytes_sent, scratch.first_segment()), (4, None));

        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        let expected: &[&[u8]] = if super::super::uso::honoured() {
            &[b"aaaa", b"bbbb", b"cc", b"xyzz"]
        } else {
            &[b"aaaabbbbcc", b"xyzz"]
        };
        for _ in expected {
            let n = receiver.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, expected);
    }
}
