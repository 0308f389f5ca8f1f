//! Whether this system's stack honours UDP segmentation offload (USO,
//! `UDP_SEND_MSG_SIZE`), found out once per process by trying it.
//!
//! Setting the option or sending the control message proves nothing: wine accepts the
//! control message and sends the whole payload as one datagram. So the probe sends a
//! segmented payload to itself on loopback and looks at what arrives.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::windows::io::AsRawSocket;
use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock as ws;

use super::{cvt, handle};
use crate::control::ControlMessage;
use crate::sys::cmsg;

/// Whether a segmented send is cut into datagrams here (probed on first use).
pub(crate) fn honoured() -> bool {
    static HONOURED: OnceLock<bool> = OnceLock::new();
    *HONOURED.get_or_init(|| probe().unwrap_or(false))
}

/// Sends 8 bytes as one send segmented at 4 from a loopback socket to another: the
/// offload is honoured where two datagrams of 4 bytes arrive, the first half then the
/// second.
fn probe() -> io::Result<bool> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (sender, receiver) = (UdpSocket::bind(loopback)?, UdpSocket::bind(loopback)?);
    sender.connect(receiver.local_addr()?)?;
    // Connected: only the sender's datagrams are received.
    receiver.connect(sender.local_addr()?)?;
    receiver.set_read_timeout(Some(Duration::from_millis(500)))?;

    let payload = *b"mmsg-uso";
    let mut control = [0u64; 4];
    let control_len = cmsg::encode(&mut control, &[ControlMessage::UdpSegment(4)])?;
    let mut vector = ws::WSABUF {
        len: payload.len() as u32,
        buf: payload.as_ptr() as *mut u8,
    };
    let header = ws::WSAMSG {
        name: ptr::null_mut(),
        namelen: 0,
        lpBuffers: &mut vector,
        dwBufferCount: 1,
        Control: ws::WSABUF {
            len: control_len as u32,
            buf: control.as_mut_ptr().cast(),
        },
        dwFlags: 0,
    };
    let mut sent = 0u32;
    // SAFETY: `header` points at `vector` (over `payload`) and at `control`, all locals
    // alive until the call returns, with their true lengths; no address (the socket is
    // connected); no overlapped I/O.
    let rc = unsafe {
        ws::WSASendMsg(
            handle(sender.as_raw_socket()),
            &header,
            0,
            &mut sent,
            ptr::null_mut(),
            None,
        )
    };
    cvt(rc)?;

    let mut buf = [0u8; 16];
    let first = receiver.recv(&mut buf)?;
    if buf[..first] != payload[..4] {
        return Ok(false);
    }
    let second = receiver.recv(&mut buf)?;
    Ok(buf[..second] == payload[4..])
}
