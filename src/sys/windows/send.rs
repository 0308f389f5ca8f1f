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

use super::{cvt, handle, os_flags, RawSocket};
use crate::control;
use crate::send::{ipv4_mapped, Batch};
use crate::sys::cmsg;

/// Buffers reused from call to call so that sending does not allocate once warmed up.
#[derive(Default)]
pub(crate) struct SendScratch {
    /// Control messages, aligned for `WSACMSGHDR`.
    control: Vec<u64>,
}

impl SendScratch {
    /// Segmented sends are never made here.
    pub(crate) fn first_segment(&self) -> Option<usize> {
        None
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

/// No batch call here: the engine never asks (the portable path is forced on).
pub(crate) fn send_batch<B: Batch + ?Sized>(
    socket: RawSocket,
    scratch: &mut SendScratch,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    _gso: Option<usize>,
    flags: i32,
) -> io::Result<usize> {
    send_message(socket, Some(scratch), batch, start, map_v4, flags)
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
    let mapped = message
        .address
        .filter(|a| map_v4 && a.is_ipv4())
        .map(ipv4_mapped);
    let address = mapped.as_ref().or(message.address);
    let mut control = ws::WSABUF {
        len: 0,
        buf: ptr::null_mut(),
    };
    let messages = message.control_messages;
    if let (false, Some(scratch)) = (messages.is_empty(), scratch) {
        scratch.control.clear();
        scratch.control.resize(cmsg::words(control::space(messages)), 0);
        control.len = cmsg::encode(&mut scratch.control, messages)? as u32;
        control.buf = scratch.control.as_mut_ptr().cast();
    }
    let header = ws::WSAMSG {
        name: address.map_or(ptr::null_mut(), |a| a.as_ptr() as *mut ws::SOCKADDR),
        namelen: address.map_or(0, SockAddr::len),
        lpBuffers: message.vectors.as_ptr() as *mut ws::WSABUF,
        dwBufferCount: message.vectors.len() as u32,
        Control: control,
        dwFlags: 0,
    };
    let mut sent = 0u32;
    // SAFETY: every pointer in `header` points into `batch` (its vectors, `IoSlice` being
    // ABI-compatible with WSABUF, and its address), into `mapped` or into the scratch, all
    // borrowed and unmoved until the call returns; the lengths are those of the same
    // objects. No overlapped I/O: the call completes before it returns.
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
    batch.set_bytes_sent(index, sent as usize);
    Ok(1)
}
