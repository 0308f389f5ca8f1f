//! Receive-side UDP generic receive offload (`UDP_GRO`), opt-in: the kernel hands over
//! several datagrams from one sender as one buffer, and mmsg splits it back, so a receiver
//! sees exactly the datagrams it would without it.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};

use socket2::SockAddr;

use crate::cancellable::Cancellable;
use crate::control::{ControlBuffer, ReceivedControlMessage};
use crate::flags::MsgFlags;
use crate::message::InputMessage;
use crate::recv;
use crate::socket::Socket;

/// The largest buffer the kernel coalesces into (a UDP datagram's size limit).
const BUFFER: usize = 65_536;

/// Coalesced buffers taken per call at most: enough to keep `recvmmsg` batched, few enough
/// to bound memory (1 MiB).
const SLOTS: usize = 16;

/// Per-socket state of the opt-in.
#[derive(Default)]
pub(crate) struct Gro {
    buffers: Vec<Vec<u8>>,
    controls: Vec<ControlBuffer>,
    /// Segments received but not yet handed out, oldest first: nothing is dropped when the
    /// caller gave fewer messages than a coalesced buffer held.
    pending: VecDeque<Segments>,
}

/// The rest of one coalesced buffer.
struct Segments {
    data: Vec<u8>,
    segment: usize,
    offset: usize,
    address: Option<SockAddr>,
    flags: MsgFlags,
    control: ControlBuffer,
}

impl Segments {
    fn next(&mut self) -> Option<&[u8]> {
        if self.offset >= self.data.len() {
            return None;
        }
        let end = (self.offset + self.segment).min(self.data.len());
        let segment = &self.data[self.offset..end];
        self.offset = end;
        Some(segment)
    }
}

/// Receives with GRO on (see `Socket::set_receive_offload`): segments left from the last
/// call first, then new datagrams, split.
pub(crate) fn receive(
    socket: &Socket,
    messages: &mut [InputMessage<'_>],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    let mut gro = socket.gro();
    let mut filled = 0;
    while filled < messages.len() {
        let Some(front) = gro.pending.front_mut() else {
            break;
        };
        match front.next() {
            Some(segment) => {
                let segment = segment.to_vec();
                let (address, seg_flags) = (front.address.clone(), front.flags);
                deliver(
                    &mut messages[filled],
                    &segment,
                    address,
                    seg_flags,
                    &front.control,
                );
                filled += 1;
            }
            None => {
                gro.pending.pop_front();
            }
        }
    }
    if filled == messages.len() {
        return Ok(filled);
    }
    // An error kept from an earlier call came after every segment handed out above: it
    // ends this call where segments were, and is the answer where there were none.
    if let Some(err) = socket.take_pending_receive_error() {
        if filled == 0 {
            return Err(err);
        }
        socket.set_pending_receive_error(err);
        return Ok(filled);
    }

    let slots = (messages.len() - filled).min(SLOTS);
    let Gro {
        buffers,
        controls,
        pending,
    } = &mut *gro;
    while buffers.len() < slots {
        buffers.push(vec![0; BUFFER]);
        controls.push(ControlBuffer::new());
    }
    let wait = filled == 0 && socket.is_blocking();
    let received: Vec<(usize, Option<SockAddr>, MsgFlags)> = {
        let mut vectors: Vec<[IoSliceMut; 1]> = buffers[..slots]
            .iter_mut()
            .map(|b| [IoSliceMut::new(b)])
            .collect();
        let mut internal: Vec<InputMessage> = vectors
            .iter_mut()
            .zip(controls.iter_mut())
            .map(|(v, c)| {
                let mut m = InputMessage::new(v);
                m.control = Some(c);
                m
            })
            .collect();
        match recv::receive_plain(socket, &mut internal, flags, cancellable, wait) {
            Ok(n) => internal[..n]
                .iter()
                .map(|m| (m.bytes_received, m.address.clone(), m.flags))
                .collect(),
            Err(e) if filled > 0 => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    socket.set_pending_receive_error(e);
                }
                return Ok(filled);
            }
            Err(e) => return Err(e),
        }
    };

    let peek = flags.contains(MsgFlags::PEEK);
    for (i, (len, address, got_flags)) in received.into_iter().enumerate() {
        let control = &controls[i];
        let segment = control
            .messages()
            .find_map(|m| match m {
                ReceivedControlMessage::UdpGroSegment(size) => Some(usize::from(size)),
                _ => None,
            })
            .filter(|&size| size > 0)
            .unwrap_or(len.max(1));
        let mut rest = Segments {
            data: Vec::new(),
            segment,
            offset: 0,
            address,
            flags: got_flags,
            control: ControlBuffer::new(),
        };
        let data = &buffers[i][..len];
        let mut offset = 0;
        // A 0-byte datagram is one (empty) segment.
        loop {
            if filled == messages.len() {
                if !peek && offset < len {
                    rest.data = data[offset..].to_vec();
                    rest.control.copy_from(control);
                    pending.push_back(rest);
                }
                break;
            }
            let end = (offset + segment).min(len);
            deliver(
                &mut messages[filled],
                &data[offset..end],
                rest.address.clone(),
                rest.flags,
                control,
            );
            filled += 1;
            offset = end;
            if offset >= len {
                break;
            }
        }
    }
    Ok(filled)
}

/// Copies one datagram into `message`'s vectors, marking `TRUNC` where it did not fit.
fn deliver(
    message: &mut InputMessage<'_>,
    datagram: &[u8],
    address: Option<SockAddr>,
    flags: MsgFlags,
    control: &ControlBuffer,
) {
    let mut copied = 0;
    for vector in message.vectors.iter_mut() {
        let n = vector.len().min(datagram.len() - copied);
        vector[..n].copy_from_slice(&datagram[copied..copied + n]);
        copied += n;
    }
    message.bytes_received = copied;
    message.address = address;
    message.flags = flags - MsgFlags::TRUNC;
    if copied < datagram.len() {
        message.flags |= MsgFlags::TRUNC;
    }
    if let Some(mine) = message.control.as_deref_mut() {
        mine.copy_from(control);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Domain, Type};

    /// Segments left over from a coalesced buffer were received before an error kept for a
    /// later call: they come out first, then the error, then nothing is lost or repeated.
    /// (On real sockets this order needs the error to land mid-call, a race no test can
    /// set up, so the state is set up directly.)
    #[test]
    fn leftover_segments_come_before_a_kept_error() {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        socket
            .bind(&SockAddr::from(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                0,
            ))))
            .unwrap();
        socket.set_receive_offload(true).unwrap();
        socket.set_blocking(false);
        socket.gro().pending.push_back(Segments {
            data: b"aaabbbccc".to_vec(),
            segment: 3,
            offset: 0,
            address: None,
            flags: MsgFlags::empty(),
            control: ControlBuffer::new(),
        });
        socket.set_pending_receive_error(io::Error::from_raw_os_error(libc::ECONNREFUSED));

        let mut got = Vec::new();
        for expected in [2, 1] {
            let mut bufs = [[0u8; 8]; 2];
            let [b0, b1] = &mut bufs;
            let mut v0 = [IoSliceMut::new(b0)];
            let mut v1 = [IoSliceMut::new(b1)];
            let mut messages = [InputMessage::new(&mut v0), InputMessage::new(&mut v1)];
            let n = socket
                .receive_messages(&mut messages, MsgFlags::empty(), None)
                .unwrap();
            assert_eq!(n, expected);
            let lens: Vec<usize> = messages[..n].iter().map(|m| m.bytes_received).collect();
            for (buf, len) in bufs.iter().zip(lens) {
                got.push(buf[..len].to_vec());
            }
        }
        assert_eq!(got, [b"aaa".to_vec(), b"bbb".to_vec(), b"ccc".to_vec()]);

        let mut buf = [0u8; 8];
        let mut v = [IoSliceMut::new(&mut buf)];
        let mut messages = [InputMessage::new(&mut v)];
        let err = socket
            .receive_messages(&mut messages, MsgFlags::empty(), None)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        let err = socket
            .receive_messages(&mut messages, MsgFlags::empty(), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
