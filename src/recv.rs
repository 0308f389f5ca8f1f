//! The receive engine: waiting for the first datagram, then taking what is queued.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::cancellable::Cancellable;
use crate::error::KeptError;
use crate::flags::{IoCondition, MsgFlags};
use crate::gro::{self, Gro};
use crate::message::InputMessage;
use crate::receive_batch::ReceiveBatch;
use crate::send::Wait;
use crate::sys;

/// What the receive engine needs of a socket, handed down by the caller: the engine never
/// calls back up into `Socket`.
#[derive(Clone, Copy)]
pub(crate) struct RecvIo<'s> {
    pub(crate) fd: sys::RawSocket,
    pub(crate) wait: Wait,
    /// A `recvmsg` per datagram instead of `recvmmsg`.
    pub(crate) portable: bool,
    /// Whether receive offload is on.
    pub(crate) offload: bool,
    pub(crate) scratch: &'s Mutex<sys::RecvScratch>,
    /// mmsg's buffers for offload under `receive_messages`, and the datagrams kept in them.
    pub(crate) gro: &'s Gro,
    /// The socket's pending error met after some datagrams came, for the next call.
    pub(crate) kept: &'s KeptError,
    /// Receive system calls made, for `Socket::syscall_count`.
    pub(crate) syscalls: &'s AtomicU64,
}

/// Receives into `messages` (see `Socket::receive_messages`).
pub(crate) fn receive_messages(
    io: &RecvIo<'_>,
    messages: &mut [InputMessage<'_, '_>],
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
    if io.offload || io.gro.has_pending() {
        // Segments kept from an earlier call were received before any error kept since:
        // they go first, and the receive takes care of the error after them.
        return gro::receive_messages(io, messages, flags, cancellable);
    }
    if let Some(err) = io.kept.take() {
        return Err(err);
    }
    receive_plain(io, messages, flags, cancellable)
}

/// Receives datagrams as the kernel hands them over, waiting for the first as `io.wait`
/// says.
pub(crate) fn receive_plain(
    io: &RecvIo<'_>,
    messages: &mut [InputMessage<'_, '_>],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    let flags = flags.bits();
    loop {
        let step = if io.portable || messages.len() == 1 {
            receive_each(io, messages, flags)
        } else {
            io.syscalls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut scratch = io.scratch.lock().unwrap_or_else(|e| e.into_inner());
            sys::recv_batch(io.fd, &mut scratch, messages, flags)
        };
        match step {
            Ok(count) => return Ok(count),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => wait_for_data(io, e, cancellable)?,
        }
    }
}

/// After a receive failed with `err`: waits for data where that is what it needs and
/// `io.wait` allows; the error otherwise.
pub(crate) fn wait_for_data(
    io: &RecvIo<'_>,
    err: io::Error,
    cancellable: Option<&Cancellable>,
) -> io::Result<()> {
    match io.wait {
        Wait::Idle(timeout) if err.kind() == io::ErrorKind::WouldBlock => {
            crate::condition::wait(io.fd, IoCondition::IN, timeout, cancellable).map(drop)
        }
        _ => Err(err),
    }
}

/// The portable path: `recvmsg` per message until the queue is empty. An error after some
/// datagrams were received is kept for the next call, as `recvmmsg` does.
fn receive_each(
    io: &RecvIo<'_>,
    messages: &mut [InputMessage<'_, '_>],
    flags: i32,
) -> io::Result<usize> {
    let mut scratch = io.scratch.lock().unwrap_or_else(|e| e.into_inner());
    let mut received = 0;
    while received < messages.len() {
        io.syscalls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match sys::recv_one(io.fd, &mut scratch, &mut messages[received], flags) {
            Ok(()) => received += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if received == 0 => return Err(e),
            Err(e) => {
                io.kept.keep(e);
                break;
            }
        }
    }
    Ok(received)
}

/// Receives into `batch`'s buffers (see `Socket::receive_batch`).
pub(crate) fn receive_batch(
    io: &RecvIo<'_>,
    batch: &mut ReceiveBatch,
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    if let Some(c) = cancellable {
        c.check()?;
    }
    batch.clear();
    if batch.capacity() == 0 {
        return Ok(0);
    }
    if io.gro.has_pending() {
        // Datagrams `receive_messages` kept came first.
        let handed = gro::hand_over(io, batch, flags.contains(MsgFlags::PEEK));
        if handed > 0 {
            return Ok(handed);
        }
    }
    if let Some(err) = io.kept.take() {
        return Err(err);
    }
    loop {
        match batch.fill(io.fd, flags.bits(), !io.portable, io.syscalls) {
            (0, Some(err)) => wait_for_data(io, err, cancellable)?,
            (filled, err) => {
                if let Some(err) = err {
                    io.kept.keep(err);
                }
                return Ok(filled);
            }
        }
    }
}
