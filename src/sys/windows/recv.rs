//! `WSARecvMsg`, one datagram per call, scattering straight into the caller's buffers.

use std::io;
use std::mem;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use socket2::{SockAddr, SockAddrStorage};
use windows_sys::Win32::Networking::WinSock as ws;

use super::{cvt, handle, os_flags, RawSocket};
use crate::control::ControlBuffer;
use crate::flags::MsgFlags;
use crate::message::InputMessage;

/// Nothing to reuse: each receive's header and sender address live on the stack.
#[derive(Default)]
pub(crate) struct RecvScratch {
    /// The control buffer the stack is given when the caller gave none (see `receive`),
    /// reused from call to call.
    spare: ControlBuffer,
}

/// What the stack reported for one datagram.
struct Datagram {
    len: usize,
    flags: MsgFlags,
    sender: Option<SockAddr>,
}

/// `WSARecvMsg` is not exported by ws2_32: its address is asked of the socket's provider,
/// once (every socket mmsg makes comes from the same one).
fn wsarecvmsg(socket: RawSocket) -> io::Result<ws::LPFN_WSARECVMSG> {
    static FUNCTION: OnceLock<ws::LPFN_WSARECVMSG> = OnceLock::new();
    if let Some(function) = FUNCTION.get() {
        return Ok(*function);
    }
    let guid = ws::WSAID_WSARECVMSG;
    let mut function: ws::LPFN_WSARECVMSG = None;
    let mut returned = 0u32;
    // SAFETY: the input is the GUID, the output a function pointer slot, both live with
    // the sizes given; no overlapped I/O.
    let rc = unsafe {
        ws::WSAIoctl(
            handle(socket),
            ws::SIO_GET_EXTENSION_FUNCTION_POINTER,
            (&guid as *const windows_sys::core::GUID).cast(),
            mem::size_of_val(&guid) as u32,
            (&mut function as *mut ws::LPFN_WSARECVMSG).cast(),
            mem::size_of_val(&function) as u32,
            &mut returned,
            ptr::null_mut(),
            None,
        )
    };
    cvt(rc)?;
    if function.is_none() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    Ok(*FUNCTION.get_or_init(|| function))
}

/// Receives one datagram into `count` buffers at `vectors` (`IoSliceMut`s or `WSABUF`s,
/// which share a layout), its control data into `control` (emptied first): the caller's
/// where `asked`, else a spare whose contents are dropped.
///
/// A datagram longer than the buffers fills them and is reported cut (`TRUNC`), as on
/// Unix: Winsock fails such a receive with `WSAEMSGSIZE` instead. Winsock fails it so
/// too where only the control data did not fit, so a receive the caller gave no control
/// buffer still gives the stack one (control data it brings is reported `CTRUNC`, as Unix
/// reports control data nobody asked room for), and a count the stack wrote is trusted
/// over the buffers' size.
fn receive(
    socket: RawSocket,
    vectors: *mut ws::WSABUF,
    count: usize,
    capacity: usize,
    control: &mut ControlBuffer,
    asked: bool,
    flags: i32,
) -> io::Result<Datagram> {
    let function = wsarecvmsg(socket)?.ok_or(io::ErrorKind::Unsupported)?;
    let mut name = SockAddrStorage::zeroed();
    let mut control_buf = ws::WSABUF {
        len: 0,
        buf: ptr::null_mut(),
    };
    control.clear();
    let buf = control.as_mut_bytes();
    // A stack that fails the receive may leave the control length as given: a zero first
    // header makes whatever an earlier datagram left in the buffer parse as nothing.
    buf[..2].fill(0);
    control_buf.len = mem::size_of_val(buf) as u32;
    control_buf.buf = buf.as_mut_ptr().cast();
    let mut header = ws::WSAMSG {
        name: (&mut name as *mut SockAddrStorage).cast(),
        namelen: name.size_of(),
        lpBuffers: vectors,
        dwBufferCount: count as u32,
        Control: control_buf,
        dwFlags: os_flags(flags),
    };
    // Not written by a failed call: then the count is not known.
    let mut received = u32::MAX;
    // SAFETY: `header` points at `count` buffers the caller lent for the call, at `name`
    // (a SockAddrStorage, transparent over SOCKADDR_STORAGE, with its size) and at the
    // control buffer (borrowed mutably, with its size); no overlapped I/O.
    let rc = unsafe {
        function(
            handle(socket),
            &mut header,
            &mut received,
            ptr::null_mut(),
            None,
        )
    };
    // What the stack says of the datagram (wine also echoes the flags given, MSG_PEEK).
    let mut flags =
        (header.dwFlags & (ws::MSG_TRUNC | ws::MSG_CTRUNC | ws::MSG_BCAST | ws::MSG_MCAST)) as i32;
    let len = match cvt(rc) {
        Ok(()) => received as usize,
        Err(e) if e.raw_os_error() == Some(ws::WSAEMSGSIZE) => {
            let cut_control = flags & ws::MSG_CTRUNC as i32 != 0;
            match received {
                // Only the control data was cut: the datagram is whole.
                n if n != u32::MAX && (cut_control || (n as usize) < capacity) => n as usize,
                _ if cut_control => return Err(e),
                _ => {
                    flags |= ws::MSG_TRUNC as i32;
                    capacity
                }
            }
        }
        Err(e) => return Err(e),
    };
    let control_len = (header.Control.len as usize).min(ControlBuffer::CAPACITY);
    if asked {
        control.set_len(control_len);
    } else if control_len > 0 {
        flags |= ws::MSG_CTRUNC as i32;
    }
    let sender = (header.namelen > 0)
        .then(|| {
            // SAFETY: the storage was zeroed, and the stack wrote an address of `namelen`
            // bytes (at most the storage's size, which it was given) into it, or nothing.
            unsafe { SockAddr::new(name, header.namelen) }
        })
        // A receive cut short (WSAEMSGSIZE) may leave the name unwritten (all zeroes), and
        // Windows documents the name for unconnected sockets only: a connected socket's
        // datagrams come from its peer.
        .filter(|address| i32::from(address.family()) != super::codes::AF_UNSPEC)
        .or_else(|| peer(socket));
    Ok(Datagram {
        len,
        flags: MsgFlags::from_bits_retain(flags),
        sender,
    })
}

/// The connected peer's address, if the socket is connected.
fn peer(socket: RawSocket) -> Option<SockAddr> {
    let mut name = SockAddrStorage::zeroed();
    let mut len = name.size_of();
    // SAFETY: `name` is a live SockAddrStorage (transparent over SOCKADDR_STORAGE) and
    // `len` its size, both writable for the call.
    let rc = unsafe {
        ws::getpeername(
            handle(socket),
            (&mut name as *mut SockAddrStorage).cast(),
            &mut len,
        )
    };
    // SAFETY: on success the stack wrote an address of `len` bytes (at most the storage's
    // size) into `name`.
    cvt(rc).ok().map(|()| unsafe { SockAddr::new(name, len) })
}

/// Receives one datagram into `message` with `WSARecvMsg`.
pub(crate) fn recv_one(
    socket: RawSocket,
    scratch: &mut RecvScratch,
    message: &mut InputMessage<'_, '_>,
    flags: i32,
) -> io::Result<()> {
    let capacity = message.vectors.iter().map(|v| v.len()).sum();
    let vectors = message.vectors.as_mut_ptr().cast::<ws::WSABUF>();
    let count = message.vectors.len();
    let asked = message.control.is_some();
    let control = message.control.as_deref_mut().unwrap_or(&mut scratch.spare);
    let datagram = receive(socket, vectors, count, capacity, control, asked, flags)?;
    message.bytes_received = datagram.len;
    message.flags = datagram.flags;
    message.address = datagram.sender;
    Ok(())
}

/// No batch call here: the engine never asks (the portable path is forced on).
pub(crate) fn recv_batch(
    socket: RawSocket,
    scratch: &mut RecvScratch,
    messages: &mut [InputMessage<'_, '_>],
    flags: i32,
) -> io::Result<usize> {
    recv_one(socket, scratch, &mut messages[0], flags).map(|()| 1)
}

/// What the stack reported for one buffer of an owned receive batch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) flags: MsgFlags,
}

/// Nothing to lay out ahead: each buffer's header lives on the stack.
#[derive(Default)]
pub(crate) struct BufferScratch;

impl BufferScratch {
    pub(crate) fn with_capacity(_count: usize) -> BufferScratch {
        BufferScratch
    }
}

/// Receives into the buffers `data.chunks_mut(size)` (as many as `out` has entries, and
/// `controls` and `senders` as many), one datagram each, `WSARecvMsg` after `WSARecvMsg`
/// until the queue is empty. Returns how many buffers were filled; an error after some
/// were is dropped for `WouldBlock` and returned as `(count, Some(err))` otherwise, for the
/// caller to keep.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recv_buffers(
    socket: RawSocket,
    _scratch: &mut BufferScratch,
    data: &mut [u8],
    size: usize,
    controls: &mut [ControlBuffer],
    senders: &mut [Option<SockAddr>],
    out: &mut [Received],
    flags: i32,
    _batch: bool,
    syscalls: &AtomicU64,
) -> (usize, Option<io::Error>) {
    let count = out.len().min(controls.len()).min(senders.len());
    let mut buffers = data.chunks_mut(size.max(1)).take(count);
    let mut received = 0;
    let mut next = buffers.next();
    while let Some(chunk) = next.as_deref_mut() {
        let len = if size == 0 { 0 } else { chunk.len() };
        let mut vector = ws::WSABUF {
            len: u32::try_from(len).unwrap_or(u32::MAX),
            buf: chunk.as_mut_ptr(),
        };
        syscalls.fetch_add(1, Ordering::Relaxed);
        let control = &mut controls[received];
        match receive(
            socket,
            &mut vector,
            1,
            vector.len as usize,
            control,
            true,
            flags,
        ) {
            Ok(datagram) => {
                out[received] = Received {
                    len: datagram.len,
                    flags: datagram.flags,
                };
                senders[received] = datagram.sender;
                received += 1;
                next = buffers.next();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if received > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return (received, Some(e)),
        }
    }
    (received, None)
}
