//! `recvmsg` and `recvmmsg`, scattering straight into the caller's buffers.

use std::io;
use std::mem;
use std::os::fd::RawFd;

use socket2::{SockAddr, SockAddrStorage};

use super::cvt;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
use super::MAX_BATCH;
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
fn header(message: &mut InputMessage<'_>, name: &mut libc::sockaddr_storage) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all zeroes is a valid value.
    let mut header: libc::msghdr = unsafe { mem::zeroed() };
    header.msg_name = (name as *mut libc::sockaddr_storage).cast();
    header.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    header.msg_iov = message.vectors.as_mut_ptr().cast::<libc::iovec>();
    header.msg_iovlen = message.vectors.len() as _;
    if let Some(control) = message.control.as_deref_mut() {
        control.clear();
        let buf = control.as_mut_bytes();
        header.msg_controllen = mem::size_of_val(buf) as _;
        header.msg_control = buf.as_mut_ptr().cast();
    }
    header
}

/// Writes what the kernel reported for one datagram into `message`.
fn finish(
    message: &mut InputMessage<'_>,
    header: &libc::msghdr,
    bytes: usize,
    name: &libc::sockaddr_storage,
) {
    message.bytes_received = bytes;
    message.flags = MsgFlags::from_bits_retain(header.msg_flags);
    message.address = if header.msg_namelen == 0 {
        None
    } else {
        // SAFETY: SockAddrStorage is a transparent wrapper of sockaddr_storage, and the kernel
        // wrote a valid address of `msg_namelen` bytes (at most the storage's size) into it.
        Some(unsafe {
            let storage: SockAddrStorage = mem::transmute_copy(name);
            SockAddr::new(storage, header.msg_namelen)
        })
    };
    if let Some(control) = message.control.as_deref_mut() {
        #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
        control.set_len(header.msg_controllen as usize);
    }
}

/// Whether any message asks for control data: then received descriptors get close-on-exec.
fn with_cloexec(messages: &[InputMessage<'_>], flags: libc::c_int) -> libc::c_int {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    if messages.iter().any(|m| m.control.is_some()) {
        return flags | libc::MSG_CMSG_CLOEXEC;
    }
    let _ = messages;
    flags
}

/// Receives one datagram into `message` with `recvmsg`.
pub(crate) fn recv_one(
    fd: RawFd,
    scratch: &mut RecvScratch,
    message: &mut InputMessage<'_>,
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
    messages: &mut [InputMessage<'_>],
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
    // for the whole call and not resized since the pointers were taken; no timeout pointer.
    let rc = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            count as _,
            flags as _,
            std::ptr::null_mut(),
        )
    };
    let received = cvt(rc as isize)?;
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

/// No `recvmmsg` here: the engine never asks (the portable path is forced on).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) fn recv_batch(
    fd: RawFd,
    scratch: &mut RecvScratch,
    messages: &mut [InputMessage<'_>],
    flags: libc::c_int,
) -> io::Result<usize> {
    recv_one(fd, scratch, &mut messages[0], flags).map(|()| 1)
}
