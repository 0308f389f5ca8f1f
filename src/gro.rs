//! Receive offload (`UDP_GRO`) under `receive_messages`, whose meaning is GLib's: one
//! datagram per message. The kernel hands several datagrams of one sender over as one
//! buffer; they are received into mmsg's own buffers and copied out one per message, and
//! those that do not fit the messages given are kept for the next call, so a receiver sees
//! exactly the datagrams it would without offload. (`Socket::receive_batch` hands them out
//! in place instead, without this copy.)

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::cancellable::Cancellable;
use crate::flags::{IoCondition, MsgFlags};
use crate::message::InputMessage;
use crate::receive_batch::{Buffer, ReceiveBatch};
use crate::recv::RecvIo;

/// Coalesced buffers taken per call at most: enough to keep `recvmmsg` batched, few enough
/// to bound memory (4 MiB, and only as much as callers ask for).
const SLOTS: usize = 64;

/// Per-socket state: mmsg's buffers and how far their datagrams were handed out.
#[derive(Default)]
pub(crate) struct Gro {
    state: Mutex<State>,
    /// Whether segments are kept: then they come out first, even with offload turned off.
    pending: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Received buffers whose datagrams are not all handed out yet, oldest first. Usually
    /// one; more only after offload was switched off (see `switch_off`).
    kept: VecDeque<Kept>,
    /// Buffers handed out entirely, to be reused: steady state allocates nothing.
    spare: Vec<ReceiveBatch>,
}

/// A filled batch and the next datagram to hand out of it.
struct Kept {
    batch: ReceiveBatch,
    cursor: Cursor,
}

/// The next datagram to hand out: in buffer `buffer`, from byte `offset`.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    buffer: usize,
    offset: usize,
}

impl Gro {
    /// Whether datagrams received earlier are waiting to be handed out.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Buffers and a cursor into them: a panic elsewhere cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Receives into `messages` with offload on, or with segments still kept after it was
/// turned off (see `Socket::receive_messages`): kept segments first, then new datagrams.
///
/// The lock on mmsg's buffers is held only while receiving without waiting and copying out;
/// a wait for data happens with it released, so every concurrent caller's timeout and
/// cancellation hold.
pub(crate) fn receive_messages(
    io: &RecvIo<'_>,
    messages: &mut [InputMessage<'_, '_>],
    flags: MsgFlags,
    cancellable: Option<&Cancellable>,
) -> io::Result<usize> {
    let peek = flags.contains(MsgFlags::PEEK);
    loop {
        let mut state = io.gro.lock();
        let mut filled = state.hand_out(messages, flags, peek);
        io.gro.pending.store(state.has_pending(), Ordering::Relaxed);
        if filled == messages.len() {
            return Ok(filled);
        }
        // A peek looks at what is kept (all a peek can hand out from there) without
        // receiving over it.
        if peek && filled > 0 {
            return Ok(filled);
        }
        if filled > 0 && io.kept.is_set() {
            // The kept error came after the segments just handed out; it is the next call's.
            return Ok(filled);
        }
        if let Some(err) = io.kept.take() {
            return Err(err);
        }
        if !io.offload {
            // Turned off while segments were kept: they are out; the rest is plain.
            drop(state);
            if filled > 0 {
                return Ok(filled);
            }
            return crate::recv::receive_plain(io, messages, flags, cancellable);
        }
        let mut batch = state.spare_for(messages.len() - filled);
        let (received, err) = batch.fill(io.fd, flags.bits(), !io.portable, io.syscalls);
        if received > 0 {
            if let Some(err) = err {
                io.kept.keep(err);
            }
            state.kept.push_back(Kept {
                batch,
                cursor: Cursor::default(),
            });
            filled += state.hand_out(&mut messages[filled..], flags, peek);
            if peek {
                // Peeked data stays in the kernel's queue: nothing is kept here.
                let peeked = state.kept.pop_back().map(|k| k.batch);
                state.spare.extend(peeked);
            }
            io.gro.pending.store(state.has_pending(), Ordering::Relaxed);
            return Ok(filled);
        }
        state.spare.push(batch);
        // Any wait happens with the lock released.
        drop(state);
        let err = err.unwrap_or_else(|| io::Error::from(io::ErrorKind::WouldBlock));
        if filled > 0 {
            io.kept.keep(err);
            return Ok(filled);
        }
        crate::recv::wait_for_data(io, err, cancellable)?;
    }
}

/// Hands kept segments over to `batch` (one datagram a buffer, as a receive without
/// offload would fill it) before anything new is received; returns how many.
pub(crate) fn hand_over(io: &RecvIo<'_>, batch: &mut ReceiveBatch, peek: bool) -> usize {
    let mut state = io.gro.lock();
    batch.clear();
    state.walk(peek, |buffer, datagram| {
        batch.push(datagram, buffer.source(), buffer.flags(), buffer.control())
    });
    io.gro.pending.store(state.has_pending(), Ordering::Relaxed);
    batch.len()
}

/// Turns receive offload off without merging datagrams: buffers the kernel coalesced
/// before the switch would come out of a socket with offload off as one datagram (it
/// marks their segment size only while offload is on). So everything queued is received
/// first, with offload still on, and kept for the next calls; then offload goes off. A
/// coalesced buffer that arrived in between is caught by looking again: after the switch
/// the kernel splits whatever arrives, so a queue found empty then holds nothing merged.
pub(crate) fn switch_off(
    io: &RecvIo<'_>,
    set_offload: impl Fn(bool) -> io::Result<()>,
) -> io::Result<()> {
    let mut state = io.gro.lock();
    for _ in 0..8 {
        loop {
            let mut batch = state.spare_for(SLOTS);
            match batch.fill(io.fd, 0, !io.portable, io.syscalls) {
                (0, _) => {
                    state.spare.push(batch);
                    break;
                }
                (_, err) => {
                    if let Some(err) = err {
                        io.kept.keep(err);
                    }
                    state.kept.push_back(Kept {
                        batch,
                        cursor: Cursor::default(),
                    });
                }
            }
        }
        io.gro.pending.store(state.has_pending(), Ordering::Relaxed);
        set_offload(false)?;
        let queued = crate::condition::check(io.fd, IoCondition::IN);
        if !queued.contains(IoCondition::IN) {
            return Ok(());
        }
        // Something came in the meantime, maybe coalesced: take it with offload on.
        set_offload(true)?;
    }
    // Traffic that never pauses: what is queued now may be merged, which only a pause in
    // it could have told apart.
    set_offload(false)
}

impl State {
    /// A batch to receive into, with room for `wanted` datagrams (up to `SLOTS` buffers):
    /// a spare one where there is one, else a new one.
    fn spare_for(&mut self, wanted: usize) -> ReceiveBatch {
        let wanted = wanted.clamp(1, SLOTS);
        match self.spare.iter().position(|b| b.capacity() >= wanted) {
            Some(index) => self.spare.swap_remove(index),
            // Made only when a caller asks for more than ever before.
            None => ReceiveBatch::new(wanted, ReceiveBatch::OFFLOAD_BUFFER_SIZE),
        }
    }

    fn has_pending(&self) -> bool {
        !self.kept.is_empty()
    }

    /// Gives kept datagrams to `take`, oldest first, while it takes them (returns true);
    /// moves past them unless `peek`. Batches handed out entirely become spares.
    fn walk(&mut self, peek: bool, mut take: impl FnMut(&Buffer<'_>, &[u8]) -> bool) {
        let mut index = 0;
        'kept: while let Some(kept) = self.kept.get_mut(index) {
            let mut at = kept.cursor;
            while let Some((buffer, datagram, next)) = next_datagram(&kept.batch, at) {
                if !take(&buffer, datagram) {
                    if !peek {
                        kept.cursor = at;
                    }
                    break 'kept;
                }
                at = next;
            }
            if peek {
                index += 1;
            } else if let Some(done) = self.kept.pop_front() {
                let mut batch = done.batch;
                batch.clear();
                self.spare.push(batch);
            }
        }
    }

    /// Copies kept datagrams into `messages`, one each, from the front; returns how many.
    /// A peek leaves them kept.
    fn hand_out(
        &mut self,
        messages: &mut [InputMessage<'_, '_>],
        flags: MsgFlags,
        peek: bool,
    ) -> usize {
        let mut filled = 0;
        self.walk(peek, |buffer, datagram| match messages.get_mut(filled) {
            Some(message) => {
                deliver(message, datagram, buffer, flags);
                filled += 1;
                true
            }
            None => false,
        });
        filled
    }
}

/// The datagram at `at` in `batch`, its buffer, and where the next one is. A buffer that
/// holds a 0-byte datagram yields it once.
fn next_datagram(batch: &ReceiveBatch, at: Cursor) -> Option<(Buffer<'_>, &[u8], Cursor)> {
    let buffer = batch.get(at.buffer)?;
    let data = buffer.data();
    let end = (at.offset + buffer.segment_size().max(1)).min(data.len());
    let next = if end >= data.len() {
        Cursor {
            buffer: at.buffer + 1,
            offset: 0,
        }
    } else {
        Cursor {
            buffer: at.buffer,
            offset: end,
        }
    };
    Some((buffer, &data[at.offset..end], next))
}

/// Copies one datagram into `message`'s vectors, as a receive of it alone would have
/// written the message: `TRUNC` where it did not fit (and then, with `TRUNC` asked for in
/// `flags`, its whole length as `bytes_received`), the sender, the buffer's control messages.
fn deliver(
    message: &mut InputMessage<'_, '_>,
    datagram: &[u8],
    buffer: &Buffer<'_>,
    flags: MsgFlags,
) {
    let mut copied = 0;
    for vector in message.vectors.iter_mut() {
        let n = vector.len().min(datagram.len() - copied);
        vector[..n].copy_from_slice(&datagram[copied..copied + n]);
        copied += n;
    }
    message.flags = buffer.flags() - MsgFlags::TRUNC;
    message.bytes_received = copied;
    if copied < datagram.len() {
        message.flags |= MsgFlags::TRUNC;
        if flags.contains(MsgFlags::TRUNC) {
            message.bytes_received = datagram.len();
        }
    }
    match (&mut message.address, buffer.source()) {
        // Reuses the message's address in place: no new value per datagram.
        (Some(mine), Some(theirs)) => mine.clone_from(theirs),
        (mine, theirs) => *mine = theirs.cloned(),
    }
    if let Some(mine) = message.control.as_deref_mut() {
        mine.copy_from(buffer.control());
    }
}
