//! What differs between Unix and Windows for the CLI, in one place: positional file I/O,
//! opening a file without waiting on it, the error number of a datagram too large, the CPU
//! time of the calling thread, and how the demo names mmsg's send calls. The rest of the
//! CLI uses these and no `cfg`.

use std::fs::{File, OpenOptions};
use std::io;

pub use os::{thread_time, EMSGSIZE, ONE_CALL_PER_DATAGRAM, SEND_CALLS};

/// Reads exactly `buffer.len()` bytes of `file` from `offset`, whatever the file's cursor;
/// `UnexpectedEof` if the file ends first.
pub fn read_exact_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buffer.is_empty() {
        match os::read_at(file, buffer, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the chunk",
                ))
            }
            Ok(n) => {
                buffer = &mut buffer[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `bytes` into `file` at `offset`, whatever the file's cursor.
pub fn write_all_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        match os::write_at(file, bytes, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `options` made to open without waiting for another party: on Unix, a path that became a
/// FIFO after it was looked at would otherwise block open() until the FIFO's other end is
/// opened (forever if nobody does). Windows has no FIFOs, and opening a named pipe
/// (`\\.\pipe\...`) fails at once when no instance is free instead of waiting, so there
/// nothing is needed.
pub fn without_waiting(options: &mut OpenOptions) -> &mut OpenOptions {
    os::without_waiting(options)
}

#[cfg(unix)]
mod os {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::time::Duration;

    /// The error number of a datagram too large for the route or the family.
    pub const EMSGSIZE: i32 = libc::EMSGSIZE;

    /// The system calls mmsg sends with, as the demo names them.
    pub const SEND_CALLS: &str = "sendmsg/sendmmsg";
    /// The demo's explanation when mmsg made a send call per datagram (its portable path).
    pub const ONE_CALL_PER_DATAGRAM: &[&str] = &[
        "mmsg made one sendmsg per packet and receiver, as many send calls as std: its",
        "portable path was in use (the `portable` feature, or no sendmmsg on this OS).",
    ];

    pub fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        file.read_at(buffer, offset)
    }

    pub fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
        file.write_at(bytes, offset)
    }

    pub fn without_waiting(options: &mut OpenOptions) -> &mut OpenOptions {
        // On a regular file O_NONBLOCK changes nothing; on a FIFO open() returns at once.
        options.custom_flags(libc::O_NONBLOCK)
    }

    /// CPU time this thread has used so far, from `/proc/thread-self/schedstat` (Linux;
    /// `None` where there is no such file).
    pub fn thread_time() -> Option<Duration> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
        Some(Duration::from_nanos(nanos))
    }
}

#[cfg(windows)]
mod os {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::windows::fs::FileExt;
    use std::time::Duration;

    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::Networking::WinSock::WSAEMSGSIZE;
    use windows_sys::Win32::System::Threading::{GetCurrentThread, GetThreadTimes};

    /// The error number of a datagram too large for the route or the family.
    pub const EMSGSIZE: i32 = WSAEMSGSIZE;

    /// The system calls mmsg sends with, as the demo names them.
    pub const SEND_CALLS: &str = "WSASendMsg";
    /// The demo's explanation when mmsg made a send call per datagram, as it does on
    /// Windows unless the stack honours segmentation offload.
    pub const ONE_CALL_PER_DATAGRAM: &[&str] = &[
        "On Windows mmsg sends each packet with a WSASendMsg of its own: Windows has no",
        "sendmmsg, and segmentation offload (USO) is used only where mmsg saw the stack",
        "honour it (not here), so both paths make one send call per packet and receiver.",
    ];

    // seek_read/seek_write also move the file's cursor: harmless, as every read and write
    // of the CLI gives its offset. Either may do less than asked; the callers loop.
    pub fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        file.seek_read(buffer, offset)
    }

    pub fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<usize> {
        file.seek_write(bytes, offset)
    }

    pub fn without_waiting(options: &mut OpenOptions) -> &mut OpenOptions {
        options
    }

    /// CPU time this thread has used so far (kernel and user), from `GetThreadTimes`.
    pub fn thread_time() -> Option<Duration> {
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: GetCurrentThread returns a pseudo-handle to this thread, always valid and
        // never closed; the four pointers are to live FILETIMEs that the call fills.
        let ok = unsafe {
            GetThreadTimes(
                GetCurrentThread(),
                &mut created,
                &mut exited,
                &mut kernel,
                &mut user,
            )
        };
        if ok == 0 {
            return None;
        }
        // FILETIME counts 100 ns intervals.
        let ticks = |t: FILETIME| u64::from(t.dwHighDateTime) << 32 | u64::from(t.dwLowDateTime);
        Some(Duration::from_nanos(
            (ticks(kernel) + ticks(user)).saturating_mul(100),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom};
    use std::time::Duration;

    #[test]
    fn positional_reads_and_writes_ignore_and_survive_the_cursor() {
        let path = std::env::temp_dir().join(format!("mmsg-platform-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        write_all_at(&file, b"world", 6).unwrap();
        write_all_at(&file, b"hello ", 0).unwrap();
        let mut buffer = [0u8; 5];
        read_exact_at(&file, &mut buffer, 6).unwrap();
        assert_eq!(&buffer, b"world");
        // Wherever the cursor was left (Windows' seek_read moves it), positional calls
        // use their own offset.
        (&file).seek(SeekFrom::Start(2)).unwrap();
        read_exact_at(&file, &mut buffer, 0).unwrap();
        assert_eq!(&buffer, b"hello");
        read_exact_at(&file, &mut buffer, 6).unwrap();
        assert_eq!(&buffer, b"world");
        // Past the end: UnexpectedEof, as std's read_exact_at.
        let mut past = [0u8; 4];
        let e = read_exact_at(&file, &mut past, 9).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        drop(file);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_thread_s_cpu_time_grows_where_the_os_tells() {
        let Some(start) = thread_time() else {
            return;
        };
        let until = std::time::Instant::now() + Duration::from_millis(50);
        let mut spin = 0u64;
        while std::time::Instant::now() < until {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(thread_time().unwrap() >= start);
    }
}
