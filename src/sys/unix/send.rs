//! `sendmsg` and `sendmmsg`: headers built straight over the caller's buffers.
//!
//! `IoSlice` is ABI-compatible with `iovec` and `SockAddr` holds a `sockaddr_storage`, so a
//! header points at the caller's vectors and addresses as they are: nothing is copied but
//! IPv4 addresses that an IPv6 socket must send as IPv4-mapped, and control messages.

use std::io;
use std::mem;
use std::os::fd::RawFd;
use std::sync::Mutex;

use socket2::SockAddr;

use super::cvt;
use crate::control;
use crate::send::{ipv4_mapped, Batch};
use crate::sys::cmsg;
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
use {super::MAX_BATCH, crate::control::ControlMessage, crate::gso};

/// Buffers reused from call to call so that sending does not allocate once warmed up.
/// They hold nothing between calls: every pointer in them is rewritten before each use.
#[derive(Default)]
pub(crate) struct SendScratch {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    headers: Vec<libc::mmsghdr>,
    /// IPv4-mapped copies of IPv4 addresses, for IPv6 sockets.
    mapped: Vec<SockAddr>,
    /// Control messages, aligned for `cmsghdr`.
    control: Vec<u64>,
    /// What each header of the next `sendmmsg` carries: runs of messages coalesced into one
    /// segmented send, or single messages.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    plan: Vec<Run>,
    /// The vectors of coalesced runs, laid end to end (pointers only: no payload is copied).
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    iovecs: Vec<libc::iovec>,
}

/// Messages `first..first + count` sent as one header; `segment` > 0 where they are
/// coalesced into one `UDP_SEGMENT` send of that segment size.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
#[derive(Debug, Clone, Copy)]
struct Run {
    first: usize,
    count: usize,
    segment: usize,
    /// Bytes of the run's last message (the others carry `segment` each).
    last: usize,
    /// Where a coalesced run's vectors start in `SendScratch::iovecs`, and how many.
    iovecs: usize,
    vectors: usize,
    /// Words of `SendScratch::control` the header takes (its segment size or its own
    /// control messages).
    control_words: usize,
    /// Whether the destination is sent in its IPv4-mapped form (from `SendScratch::mapped`).
    mapped: bool,
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
impl Run {
    /// Whether the header points into the scratch, so is finished once the scratch has
    /// stopped growing.
    fn points_into_scratch(&self) -> bool {
        self.segment > 0 || self.control_words > 0 || self.mapped
    }
}

// SAFETY: the raw pointers inside the headers are only written and read during one call,
// by the thread that holds the socket's scratch lock; between calls they are dead values.
unsafe impl Send for SendScratch {}

impl SendScratch {
    /// The segment size of the first header of the last `sendmmsg`, where it was a
    /// segmented send: an error for it (the kernel reports only the first header's) may be
    /// the offload's, not the messages'.
    pub(crate) fn first_segment(&self) -> Option<usize> {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        return self.plan.first().map(|run| run.segment).filter(|&s| s > 0);
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        None
    }

    /// Makes room for messages `start..end` of `batch`: control buffer zeroed and sized,
    /// mapped addresses reserved, so that no vector reallocates while headers point into it.
    fn prepare<B: Batch + ?Sized>(&mut self, batch: &B, start: usize, end: usize, map_v4: bool) {
        let words: usize = (start..end)
            .map(|i| cmsg::words(control::space(batch.message(i).control_messages)))
            .sum();
        self.control.clear();
        self.control.resize(words, 0);
        self.mapped.clear();
        if map_v4 {
            self.mapped.reserve(end - start);
        }
    }
}

/// The header for message `index` of `batch`; returns it and the control words it used.
///
/// `mapped` must have spare capacity for one more address (`prepare` reserved it), so the
/// pointer taken into it stays valid while the other headers are built.
#[inline(always)]
fn header<B: Batch + ?Sized>(
    batch: &B,
    index: usize,
    map_v4: bool,
    mapped: &mut Vec<SockAddr>,
    control: &mut [u64],
) -> io::Result<(libc::msghdr, usize)> {
    let message = batch.message(index);
    // SAFETY: msghdr is plain old data; all zeroes is a valid value (null pointers, no
    // lengths), and zeroing also clears the padding fields some libcs have.
    let mut header: libc::msghdr = unsafe { mem::zeroed() };
    if let Some(mut address) = message.address {
        if map_v4 && address.is_ipv4() {
            debug_assert!(mapped.len() < mapped.capacity());
            mapped.push(ipv4_mapped(address));
            address = &mapped[mapped.len() - 1];
        }
        header.msg_name = address.as_ptr() as *mut libc::c_void;
        header.msg_namelen = address.len();
    }
    header.msg_iov = message.vectors.as_ptr() as *mut libc::iovec;
    header.msg_iovlen = message.vectors.len() as _;
    let messages = message.control_messages;
    let mut used = 0;
    if !messages.is_empty() {
        used = cmsg::words(control::space(messages));
        let region = &mut control[..used];
        header.msg_controllen = cmsg::encode(region, messages)? as _;
        header.msg_control = region.as_mut_ptr().cast();
    }
    Ok((header, used))
}

/// Sends message `index` of `batch` with one `sendmsg` (`sendto` where it is one vector
/// with no control messages); records its bytes. Returns 1.
///
/// A message with no control messages needs no scratch space (its header lives on the
/// stack, a mapped address too), so `scratch` is only locked for the others: the
/// one-datagram path costs no more than `std`'s `send_to` around the same system call.
pub(crate) fn send_one<B: Batch + ?Sized>(
    fd: RawFd,
    scratch: &Mutex<SendScratch>,
    batch: &mut B,
    index: usize,
    map_v4: bool,
    flags: libc::c_int,
) -> io::Result<usize> {
    let message = batch.message(index);
    let bytes = if message.control_messages.is_empty() {
        let mut mapped = Vec::new(); // no capacity: never allocates unless pushed to
        let mut local = None;
        let (mut header, _) = header(batch, index, false, &mut mapped, &mut [])?;
        if let Some(address) = message.address.filter(|a| map_v4 && a.is_ipv4()) {
            let address: &SockAddr = local.insert(ipv4_mapped(address));
            header.msg_name = address.as_ptr() as *mut libc::c_void;
            header.msg_namelen = address.len();
        }
        if let [vector] = message.vectors {
            // One vector and no control messages: `sendto` says the same as `sendmsg` and
            // is the kernel's cheaper path (no header or vector array to copy in), which
            // keeps a one-datagram send level with `std`'s `send_to`.
            // SAFETY: the buffer is the caller's vector, borrowed for the call, with its own
            // length; the address is `header`'s, pointing into `batch` or `local`, alive
            // until the end of this block (null with length 0 for a connected socket).
            cvt(unsafe {
                libc::sendto(
                    fd,
                    vector.as_ptr().cast(),
                    vector.len(),
                    flags,
                    header.msg_name as *const libc::sockaddr,
                    header.msg_namelen,
                )
            })?
        } else {
            // SAFETY: every pointer in `header` points into `batch` (borrowed for the call)
            // or into `local`, alive until the end of this block; lengths are those of the
            // same objects; there is no control buffer.
            cvt(unsafe { libc::sendmsg(fd, &header, flags) })?
        }
    } else {
        let mut scratch = scratch.lock().unwrap_or_else(|e| e.into_inner());
        return send_one_with_scratch(fd, &mut scratch, batch, index, map_v4, flags);
    };
    batch.set_bytes_sent(index, bytes);
    Ok(1)
}

/// `send_one` for a message with control messages, built in `scratch`.
fn send_one_with_scratch<B: Batch + ?Sized>(
    fd: RawFd,
    scratch: &mut SendScratch,
    batch: &mut B,
    index: usize,
    map_v4: bool,
    flags: libc::c_int,
) -> io::Result<usize> {
    scratch.prepare(batch, index, index + 1, map_v4);
    let (header, _) = header(
        batch,
        index,
        map_v4,
        &mut scratch.mapped,
        &mut scratch.control,
    )?;
    // SAFETY: every pointer in `header` (address, vectors, control) points into `batch` or
    // `scratch`, both borrowed for this whole call and not moved while the kernel reads
    // them; the lengths beside them are those of the same objects.
    let bytes = cvt(unsafe { libc::sendmsg(fd, &header, flags) })?;
    batch.set_bytes_sent(index, bytes);
    Ok(1)
}

/// Sends messages from `start` on (up to the OS limit) with one `sendmmsg`; records the
/// bytes of those sent and returns how many were. With `gso`, runs of messages that can be
/// coalesced go as one `UDP_SEGMENT` header each.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn send_batch<B: Batch + ?Sized>(
    fd: RawFd,
    scratch: &mut SendScratch,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    gso: Option<usize>,
    flags: libc::c_int,
) -> io::Result<usize> {
    let segment_space = cmsg::words(cmsg::space(mem::size_of::<cmsg::SegmentData>()));
    let SendScratch {
        headers,
        mapped,
        control,
        plan,
        iovecs,
    } = scratch;
    // One pass over the messages plans the headers, lays out the vectors of coalesced runs
    // and builds every header that points only into the batch (plain messages, the usual
    // case of mixed traffic): such a header is finished here. What points into the scratch
    // (a run's vectors and segment size, control messages, mapped addresses) is filled in
    // by `finish`, once those buffers have stopped growing.
    plan.clear();
    iovecs.clear();
    headers.clear();
    let (mut control_words, mut mapped_count) = (0, 0);
    let mut next = start;
    while next < batch.len() && headers.len() < MAX_BATCH {
        let message = batch.message(next);
        let from = iovecs.len();
        let run = match gso {
            Some(max_segment) => gso::run(batch, next, message, max_segment, iovecs),
            // Not coalesced: `last` is only read for coalesced runs.
            None => gso::Run {
                count: 1,
                segment: 0,
                last: 0,
            },
        };
        // SAFETY: msghdr is plain old data; all zeroes is a valid value (null pointers, no
        // lengths), and zeroing also clears the padding fields some libcs have.
        let mut header: libc::msghdr = unsafe { mem::zeroed() };
        let words = if run.segment > 0 {
            segment_space
        } else {
            iovecs.truncate(from);
            header.msg_iov = message.vectors.as_ptr() as *mut libc::iovec;
            header.msg_iovlen = message.vectors.len() as _;
            cmsg::words(control::space(message.control_messages))
        };
        let is_mapped = map_v4 && message.address.is_some_and(SockAddr::is_ipv4);
        if let Some(address) = message.address.filter(|_| !is_mapped) {
            header.msg_name = address.as_ptr() as *mut libc::c_void;
            header.msg_namelen = address.len();
        }
        control_words += words;
        mapped_count += usize::from(is_mapped);
        headers.push(libc::mmsghdr {
            msg_hdr: header,
            msg_len: 0,
        });
        plan.push(Run {
            first: next,
            count: run.count,
            segment: run.segment,
            last: run.last,
            iovecs: from,
            vectors: iovecs.len() - from,
            control_words: words,
            mapped: is_mapped,
        });
        next += run.count;
    }
    if control_words > 0 || mapped_count > 0 {
        // Sized once, before any pointer into them is taken: nothing reallocates after.
        control.clear();
        control.resize(control_words, 0);
        mapped.clear();
        mapped.reserve(mapped_count);
        let mut control_at = 0;
        for (run, header) in plan.iter().zip(headers.iter_mut()) {
            if run.points_into_scratch() {
                let region = &mut control[control_at..control_at + run.control_words];
                finish(&mut header.msg_hdr, batch, run, iovecs, mapped, region)?;
            }
            control_at += run.control_words;
        }
    }
    // SAFETY: `headers` holds initialised headers whose pointers all point into `batch`,
    // `mapped`, `iovecs` or `control`, which are borrowed for the whole call and were last
    // resized before any pointer into them was taken. The kernel writes only `msg_len`.
    let rc = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), headers.len() as _, flags as _) };
    let sent_headers = cvt(rc as isize)?;
    let mut sent = 0;
    for (run, header) in plan.iter().zip(headers.iter()).take(sent_headers) {
        if run.segment == 0 {
            batch.set_bytes_sent(run.first, header.msg_len as usize);
        } else {
            let last = run.first + run.count - 1;
            for index in run.first..last {
                batch.set_bytes_sent(index, run.segment);
            }
            batch.set_bytes_sent(last, run.last);
        }
        sent += run.count;
    }
    Ok(sent)
}

/// Fills in what `run`'s header takes from the scratch: its IPv4-mapped destination
/// (pushed to `mapped`, which has room reserved), its vectors where it is a coalesced run
/// (in `iovecs`) and its control data, encoded into `control` (zeroed, its size): the
/// `UDP_SEGMENT` size of a run, or a single message's own control messages.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn finish<B: Batch + ?Sized>(
    header: &mut libc::msghdr,
    batch: &B,
    run: &Run,
    iovecs: &[libc::iovec],
    mapped: &mut Vec<SockAddr>,
    control: &mut [u64],
) -> io::Result<()> {
    let message = batch.message(run.first);
    if let (true, Some(address)) = (run.mapped, message.address) {
        debug_assert!(mapped.len() < mapped.capacity());
        mapped.push(ipv4_mapped(address));
        let address = &mapped[mapped.len() - 1];
        header.msg_name = address.as_ptr() as *mut libc::c_void;
        header.msg_namelen = address.len();
    }
    if run.segment > 0 {
        let vectors = &iovecs[run.iovecs..run.iovecs + run.vectors];
        header.msg_iov = vectors.as_ptr() as *mut libc::iovec;
        header.msg_iovlen = vectors.len() as _;
        let segment = [ControlMessage::UdpSegment(run.segment as u16)];
        header.msg_controllen = cmsg::encode(control, &segment)? as _;
    } else if !control.is_empty() {
        header.msg_controllen = cmsg::encode(control, message.control_messages)? as _;
    }
    if !control.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
    }
    Ok(())
}

/// No `sendmmsg` here: the engine never asks (the portable path is forced on).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) fn send_batch<B: Batch + ?Sized>(
    fd: RawFd,
    scratch: &mut SendScratch,
    batch: &mut B,
    start: usize,
    map_v4: bool,
    _gso: Option<usize>,
    flags: libc::c_int,
) -> io::Result<usize> {
    send_one_with_scratch(fd, scratch, batch, start, map_v4, flags)
}
