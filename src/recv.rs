//! The receive engine: waiting for the first datagram, then taking what is queued.

use std::io;
use std::os::fd::AsRawFd;

use crate::cancellable::Cancellable;
use crate::flags::{IoCondition, MsgFlags};
use crate::message::InputMessage;
use crate::socket::Socket;
use crate::sys;

/// Receives into `messages` (see `Socket::receive_messages`).
pub(crate) fn receive_batch(
    socket: &Socket,
    messages: &mut [InputMessage<'_>],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    if let Some(c) = cancellable {
        c.check()?;
    }
    if messages.is_empty() {
        return Ok(0);
    }
    for (index, message) in messages.iter().enumerate() {
        crate::send::check_vectors(message.vectors.len())
            .map_err(|why| crate::error::invalid_message(index, why))?;
    }
    if socket.receive_offload() {
        // Segments left from an earlier call were received before any error kept since:
        // they go first, and the receive takes care of the error after them.
        return crate::gro::receive(socket, messages, flags, cancellable);
    }
    if let Some(err) = socket.take_pending_receive_error() {
        return Err(err);
    }
    receive_plain(socket, messages, flags, cancellable, socket.is_blocking())
}

/// Receives datagrams as the kernel hands them over, waiting for the first when `wait`.
pub(crate) fn receive_plain(
    socket: &Socket,
    messages: &mut [InputMessage<'_>],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
    wait: bool,
) -> io::Result<usize> {
    let flags = flags.bits();
    loop {
        let step = if socket.portable_path() || messages.len() == 1 {
            receive_each(socket, messages, flags)
        } else {
            socket.count_syscall();
            sys::recv_batch(
                socket.as_raw_fd(),
                &mut socket.recv_scratch(),
                messages,
                flags,
            )
        };
        match step {
            Ok(count) => return Ok(count),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && wait => {
                socket.wait(IoCondition::IN, cancellable)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The portable path: `recvmsg` per message until the queue is empty. An error after some
/// datagrams were received is kept for the next call, as `recvmmsg` does.
fn receive_each(
    socket: &Socket,
    messages: &mut [InputMessage<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    let mut scratch = socket.recv_scratch();
    let mut received = 0;
    while received < messages.len() {
        socket.count_syscall();
        match sys::recv_one(fd, &mut scratch, &mut messages[received], flags) {
            Ok(()) => received += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if received == 0 => return Err(e),
            Err(e) => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    socket.set_pending_receive_error(e);
                }
                break;
            }
        }
    }
    Ok(received)
}
