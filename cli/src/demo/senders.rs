//! The two ways the demo sends each frame to every receiver: mmsg's `send_fanout` (one
//! batch, buffers shared) and `std`'s `UdpSocket::send_to` (one system call per datagram).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;

use mmsg::{Cancellable, MsgFlags, Recipient, SockAddr, Socket};

use super::video::Frame;

/// What one receiver was sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    pub packets: u64,
    pub bytes: u64,
}

pub trait FrameSender {
    /// Sends packets `range` of `frame` to every receiver, in order; adds what each was
    /// sent to `sent`.
    fn send(&mut self, frame: &Frame, range: Range<usize>, sent: &mut [Sent]) -> io::Result<()>;
    /// Send system calls made so far.
    fn syscalls(&self) -> u64;
}

/// mmsg: `send_fanout`, the frame's header and payload vectors shared by all receivers.
pub struct Fanout<'c> {
    socket: Socket,
    recipients: Vec<Recipient>,
    cancel: &'c Cancellable,
}

impl<'c> Fanout<'c> {
    pub fn new(to: &[SocketAddr], cancel: &'c Cancellable) -> io::Result<Fanout<'c>> {
        let socket = Socket::new(mmsg::Domain::IPV4, mmsg::Type::DGRAM, None)?;
        let recipients = to
            .iter()
            .map(|&a| Recipient::new(SockAddr::from(a)))
            .collect();
        Ok(Fanout {
            socket,
            recipients,
            cancel,
        })
    }
}

impl FrameSender for Fanout<'_> {
    fn send(&mut self, frame: &Frame, range: Range<usize>, sent: &mut [Sent]) -> io::Result<()> {
        let all = frame.packets();
        let packets = all.get(range).unwrap_or_default();
        for r in &mut self.recipients {
            r.reset();
        }
        let outcome = self.socket.send_fanout(
            packets,
            &mut self.recipients,
            MsgFlags::empty(),
            Some(self.cancel),
        );
        for (r, s) in self.recipients.iter().zip(sent.iter_mut()) {
            s.packets += r.packets_sent as u64;
            s.bytes += packets[..r.packets_sent]
                .iter()
                .map(|[h, p]| (h.len() + p.len()) as u64)
                .sum::<u64>();
        }
        match outcome {
            Err(e) if !mmsg::is_cancelled(&e) => return Err(e),
            _ => {}
        }
        match self
            .recipients
            .iter()
            .find_map(|r| Some((r, r.error.as_ref()?)))
        {
            Some((r, e)) => Err(io::Error::new(
                e.kind(),
                format!("sending to {:?}: {e}", r.address.as_socket()),
            )),
            None => Ok(()),
        }
    }

    fn syscalls(&self) -> u64 {
        self.socket.syscall_count()
    }
}

/// std: each packet copied into one buffer (std has no gather), then one `send_to` (one
/// `sendto` system call) per packet per receiver.
pub struct StdSendTo {
    socket: UdpSocket,
    to: Vec<SocketAddr>,
    calls: u64,
}

impl StdSendTo {
    pub fn new(to: &[SocketAddr]) -> io::Result<StdSendTo> {
        Ok(StdSendTo {
            socket: UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?,
            to: to.to_vec(),
            calls: 0,
        })
    }
}

impl FrameSender for StdSendTo {
    fn send(&mut self, frame: &Frame, range: Range<usize>, sent: &mut [Sent]) -> io::Result<()> {
        let datagrams = frame.datagrams(range);
        for (address, s) in self.to.iter().zip(sent.iter_mut()) {
            for d in &datagrams {
                self.calls += 1;
                let n = self.socket.send_to(d, address)?;
                if n != d.len() {
                    return Err(io::Error::other(format!(
                        "std sent {n} of {} bytes",
                        d.len()
                    )));
                }
                s.packets += 1;
                s.bytes += n as u64;
            }
        }
        Ok(())
    }

    fn syscalls(&self) -> u64 {
        self.calls
    }
}
