//! The cancellable's wake-up descriptor: readable while cancelled.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd (Linux, Android) or a pipe (elsewhere) that `poll()` sees readable once
/// signalled, until drained. Closed on drop.
pub(crate) struct Wake {
    read: OwnedFd,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    write: OwnedFd,
}

impl Wake {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn new() -> io::Result<Wake> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        super::cvt(fd as isize)?;
        // SAFETY: `fd` was just created and is owned by nobody else.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Wake { read })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn new() -> io::Result<Wake> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        super::cvt(unsafe { libc::pipe(fds.as_mut_ptr()) } as isize)?;
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            let raw = fd.as_raw_fd();
            // SAFETY: fcntl on a descriptor we own, with integer arguments only.
            unsafe {
                libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC);
                let fl = libc::fcntl(raw, libc::F_GETFL);
                libc::fcntl(raw, libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
        }
        Ok(Wake { read, write })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the descriptor readable. A full counter or pipe is readable already, so a
    /// failed write loses nothing.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let fd = self.read.as_raw_fd();
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let fd = self.write.as_raw_fd();
        // SAFETY: writes 8 bytes from a live local to a descriptor we own.
        let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor not readable again.
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a live local buffer of the length given, from a descriptor
            // we own (non-blocking, so this ends when it is empty).
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
        }
    }
}
