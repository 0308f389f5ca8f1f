//! `recvmsg` and `recvmmsg`, scattering straight into the caller's buffers.

use std::io;
use std::mem;
use std::os::fd::RawFd;

use socket2::{SockAddr, SockAddrStorage};

use super::cvt;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
use super::MAX_BATCH;
use crate::control::ControlBuffer;
use crate::flags::MsgFlags;
use crate::message::InputMessage;

/// Buffers reused from call to call; they hold nothing between calls.
#[derive(Default)]
pub(crate) struct RecvScratch {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    headers: Vec<libc::mmsghdr>,
    names: Vec<libc::sockaddr_storage>,
}

// SAFETY: as for SendScratch: the pointers in the headers live only within one call made
// under the socket's scratch lock.
unsafe impl Send for RecvScratch {}

/// `names` with room for `count` sender addresses, sized before any header points into it.
fn names(names: &mut Vec<libc::sockaddr_storage>, count: usize) -> &mut [libc::sockaddr_storage] {
    if names.len() < count {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        let zero: libc::sockaddr_storage = unsafe { mem::zeroed() };
        names.resize(count, zero);
    }
    &mut names[..count]
}

/// The header receiving into `message`, with the sender's address going to `name`.
/// Also empties the message's control buffer (closing descriptors nobody took).
fn header(message: &mut InputMessage<'_, '_>, name: &mut libc::sockaddr_storage) -> libc::msghdr {
    let vectors = message.vectors.as_mut_ptr().cast::<libc::iovec>();
    let count = message.vectors.len();
    header_over(name, vectors, count, message.control.as_deref_mut())
}

/// A header receiving into `count` vectors at `vectors`, the sender's address into `name`
/// and control data into `control` (emptied first, closing descriptors nobody took).
fn header_over(
    name: &mut libc::sockaddr_storage,
    vectors: *mut libc::iovec,
    count: usize,
    control: Option<&mut ControlBuffer>,
) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all zeroes is a valid value.
    let mut header: libc::msghdr = unsafe { mem::zeroed() };
    header.msg_name = (name as *mut libc::sockaddr_storage).cast();
    header.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    header.msg_iov = vectors;
    header.msg_iovlen = count as _;
    if let Some(control) = control {
        control.clear();
        let buf = control.as_mut_bytes();
        header.msg_controllen = mem::size_of_val(buf) as _;
        header.msg_control = buf.as_mut_ptr().cast();
    }
    header
}

/// Writes what the kernel reported for one datagram into `message`.
fn finish(
    message: &mut InputMessage<'_, '_>,
    header: &libc::msghdr,
    bytes: usize,
    name: &libc::sockaddr_storage,
) {
    message.bytes_received = bytes;
    message.flags = MsgFlags::from_bits_retain(header.msg_flags);
    message.address = address(name, header.msg_namelen);
    if let Some(control) = message.control.as_deref_mut() {
        #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
        control.set_len(header.msg_controllen as usize);
    }
}

/// Whether any message asks for control data: then received descriptors get close-on-exec.
fn with_cloexec(messages: &[InputMessage<'_, '_>], flags: libc::c_int) -> libc::c_int {
    if messages.iter().any(|m| m.control.is_some()) {
        flags | cloexec()
    } else {
        flags
    }
}

/// Receives one datagram into `message` with `recvmsg`.
pub(crate) fn recv_one(
    fd: RawFd,
    scratch: &mut RecvScratch,
    message: &mut InputMessage<'_, '_>,
    flags: libc::c_int,
) -> io::Result<()> {
    let flags = with_cloexec(std::slice::from_ref(message), flags);
    let name = &mut names(&mut scratch.names, 1)[0];
    let mut header = header(message, name);
    // SAFETY: `header` points at the message's vectors and control buffer and at `name`, all
    // borrowed mutably for the whole call, with their true lengths.
    let rc = unsafe { libc::recvmsg(fd, &mut header, flags) };
    let bytes = cvt(rc)?;
    finish(message, &header, bytes, name);
    Ok(())
}

/// Receives up to `messages.len()` (and the OS limit) datagrams with one `recvmmsg`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn recv_batch(
    fd: RawFd,
    scratch: &mut RecvScratch,
    messages: &mut [InputMessage<'_, '_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    let count = messages.len().min(MAX_BATCH);
    let flags = with_cloexec(&messages[..count], flags);
    let RecvScratch { headers, names } = scratch;
    let names = self::names(names, count);
    headers.clear();
    headers.reserve(count);
    for (message, name) in messages[..count].iter_mut().zip(names.iter_mut()) {
        let msg_hdr = header(message, name);
        headers.push(libc::mmsghdr {
            msg_hdr,
            msg_len: 0,
        });
    }
    // SAFETY: `headers` holds `count` headers pointing into `messages` and `names`, borrowed
    // for the whole call and not resized since the pointers were taken.
    let received = unsafe { recvmmsg(fd, headers, flags) }?;
    for ((message, header), name) in messages
        .iter_mut()
        .zip(headers.iter())
        .zip(names.iter())
        .take(received)
    {
        finish(message, &header.msg_hdr, header.msg_len as usize, name);
    }
    Ok(received)
}

/// `recvmmsg` into every header of `headers`, with no timeout: how many were filled.
///
/// # Safety
/// Every pointer in `headers` (name, vectors and what they point at, control buffer) is
/// valid for writes of the length beside it for the whole call.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[inline]
unsafe fn recvmmsg(
    fd: RawFd,
    headers: &mut [libc::mmsghdr],
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: `headers` is a live, writable array of its length; what its pointers point at
    // is the caller's promise; no timeout pointer.
    let rc = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            headers.len() as _,
            flags as _,
            std::ptr::null_mut(),
        )
    };
    cvt(rc as isize)
}

/// No `recvmmsg` here: the engine never asks (the portable path is forced on).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) fn recv_batch(
    fd: RawFd,
    scratch: &mut RecvScratch,
    messages: &mut [InputMessage<'_, '_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    recv_one(fd, scratch, &mut messages[0], flags).map(|()| 1)
}

/// The address the kernel wrote into `name` (`len` bytes of it); `None` where it wrote none
/// (an unnamed Unix socket).
fn address(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SockAddr> {
    if len == 0 {
        return None;
    }
    let len = len.min(mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t);
    // SAFETY: SockAddrStorage is a transparent wrapper of sockaddr_storage, and the kernel
    // wrote a valid address of `len` bytes (at most the storage's size) into it.
    Some(unsafe {
        let storage: SockAddrStorage = mem::transmute_copy(name);
        SockAddr::new(storage, len)
    })
}

/// What the kernel reported for one buffer of an owned receive batch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) flags: MsgFlags,
}

/// Headers, vectors and names for receiving into owned buffers, sized once for the
/// batch's buffer count: receiving allocates nothing. The vectors and `recvmmsg` headers
/// are laid out once for the buffers they point into and reused from call to call, with
/// only what the kernel writes back set again (a batch's buffers never move).
#[derive(Default)]
pub(crate) struct BufferScratch {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    headers: Vec<libc::mmsghdr>,
    iovecs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    /// What `iovecs` (and `headers`, where laid out) point into.
    laid_out: Option<Layout>,
}

/// The memory the vectors and headers were laid out for: while it is the same, every
/// pointer in them still points where it should.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Layout {
    data: *const u8,
    data_len: usize,
    size: usize,
    count: usize,
    controls: *const ControlBuffer,
    names: *const libc::sockaddr_storage,
}

// SAFETY: as for RecvScratch: the pointers in the headers and vectors are written and read
// only during a call, by the thread that has the scratch borrowed mutably (with the memory
// they point into); between calls they are only compared, never followed.
unsafe impl Send for BufferScratch {}
// SAFETY: shared references to the scratch give no access to anything (no method takes
// `&self`), so sharing it between threads cannot race.
unsafe impl Sync for BufferScratch {}

impl BufferScratch {
    /// Scratch for `count` buffers, allocated now, once.
    pub(crate) fn with_capacity(count: usize) -> BufferScratch {
        BufferScratch {
            #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
            headers: Vec::with_capacity(count.min(MAX_BATCH)),
            iovecs: Vec::with_capacity(count),
            names: names_of(count),
            laid_out: None,
        }
    }
}

fn names_of(count: usize) -> Vec<libc::sockaddr_storage> {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let zero: libc::sockaddr_storage = unsafe { mem::zeroed() };
    vec![zero; count]
}

/// Receives into the buffers `data.chunks_mut(size)` (as many as `out` has entries, and
/// `controls` and `senders` as many), each getting one datagram, or with `UDP_GRO` several
/// coalesced: with `recvmmsg` when `batch`, else `recvmsg` after `recvmsg` until the queue
/// is empty. Returns how many buffers were filled; an error after some were is dropped
/// for `WouldBlock` and returned as `(count, Some(err))` otherwise, for the caller to keep.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recv_buffers(
    fd: RawFd,
    scratch: &mut BufferScratch,
    data: &mut [u8],
    size: usize,
    controls: &mut [ControlBuffer],
    senders: &mut [Option<SockAddr>],
    out: &mut [Received],
    flags: libc::c_int,
    batch: bool,
    syscalls: &std::sync::atomic::AtomicU64,
) -> (usize, Option<io::Error>) {
    let count = out.len().min(controls.len()).min(senders.len());
    let flags = flags | cloexec();
    if scratch.names.len() < count {
        scratch.names = names_of(count);
    }
    let layout = Layout {
        data: data.as_ptr(),
        data_len: data.len(),
        size,
        count,
        controls: controls.as_ptr(),
        names: scratch.names.as_ptr(),
    };
    // Laid out again only for other memory (never, for one batch's buffers).
    let fresh = scratch.laid_out != Some(layout);
    if fresh {
        scratch.laid_out = None;
        // Headers pointing at the old vectors are laid out again before any use.
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        scratch.headers.clear();
        scratch.iovecs.clear();
        for chunk in data.chunks_mut(size.max(1)).take(count) {
            let len = if size == 0 { 0 } else { chunk.len() };
            scratch.iovecs.push(libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: len,
            });
        }
    }
    let count = count.min(scratch.iovecs.len());
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let BufferScratch {
        headers,
        iovecs,
        names,
        laid_out,
    } = &mut *scratch;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let BufferScratch {
        iovecs,
        names,
        laid_out,
    } = &mut *scratch;
    let header_for = |i: usize,
                      iovecs: &mut [libc::iovec],
                      names: &mut [libc::sockaddr_storage],
                      control: &mut ControlBuffer| {
        header_over(&mut names[i], &mut iovecs[i], 1, Some(control))
    };
    let record = |header: &libc::msghdr,
                  len: usize,
                  name: &libc::sockaddr_storage,
                  control: &mut ControlBuffer,
                  sender: &mut Option<SockAddr>,
                  out: &mut Received| {
        out.len = len;
        out.flags = MsgFlags::from_bits_retain(header.msg_flags);
        *sender = address(name, header.msg_namelen);
        #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
        control.set_len(header.msg_controllen as usize);
    };
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    if batch && count > 1 {
        let count = count.min(MAX_BATCH);
        if headers.len() != count {
            headers.clear();
            for (i, control) in controls.iter_mut().enumerate().take(count) {
                let msg_hdr = header_for(i, iovecs, names, control);
                headers.push(libc::mmsghdr {
                    msg_hdr,
                    msg_len: 0,
                });
            }
        } else {
            // Laid out by an earlier call for this very memory (the headers are emptied
            // whenever the vectors are laid out again): each header still points
            // at its vector, name and control buffer; only the lengths the kernel wrote
            // back are set again.
            for (header, control) in headers.iter_mut().zip(controls.iter_mut()) {
                control.clear();
                header.msg_hdr.msg_namelen =
                    mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                header.msg_hdr.msg_controllen = ControlBuffer::CAPACITY as _;
            }
        }
        *laid_out = Some(layout);
        loop {
            syscalls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // SAFETY: `headers` holds `count` headers pointing into `iovecs` (which point
            // into `data`), `names` and `controls`: laid out for this memory (`layout`, the
            // same addresses and lengths as now, all borrowed mutably for the whole call) and
            // not resized since.
            match unsafe { recvmmsg(fd, headers, flags) } {
                Ok(received) => {
                    for i in 0..received {
                        let header = &headers[i];
                        record(
                            &header.msg_hdr,
                            header.msg_len as usize,
                            &names[i],
                            &mut controls[i],
                            &mut senders[i],
                            &mut out[i],
                        );
                    }
                    return (received, None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (0, Some(e)),
            }
        }
    }
    *laid_out = Some(layout);
    let _ = batch;
    let mut received = 0;
    while received < count {
        let mut header = header_for(received, iovecs, names, &mut controls[received]);
        syscalls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `header` points at one vector into `data`, at a name and at a control
        // buffer, all borrowed mutably for the whole call, with their true lengths.
        let rc = unsafe { libc::recvmsg(fd, &mut header, flags) };
        match cvt(rc) {
            Ok(len) => {
                record(
                    &header,
                    len,
                    &names[received],
                    &mut controls[received],
                    &mut senders[received],
                    &mut out[received],
                );
                received += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if received > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return (received, Some(e)),
        }
    }
    (received, None)
}

/// Received descriptors get close-on-exec where the OS can do it atomically.
fn cloexec() -> libc::c_int {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    return libc::MSG_CMSG_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    0
}
