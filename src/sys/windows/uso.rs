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

/// Segment size of the probe: a real datagram's, so that no stack minimum can turn the
/// offload off where real sends would get it.
const SEGMENT: usize = 1200;

/// Sends two segments' worth as one segmented send from a loopback socket to another: the
/// offload is honoured where two datagrams of one segment arrive, the first half then the
/// second. Bounded: a loopback that drops the probe costs at most two short waits, once.
fn probe() -> io::Result<bool> {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let (sender, receiver) = (UdpSocket::bind(loopback)?, UdpSocket::bind(loopback)?);
    sender.connect(receiver.local_addr()?)?;
    // Connected: only the sender's datagrams are received.
    receiver.connect(sender.local_addr()?)?;
    receiver.set_read_timeout(Some(Duration::from_millis(200)))?;

    let payload: Vec<u8> = (0..2 * SEGMENT).map(|i| (i % 251) as u8).collect();
    let mut control = [0u64; 4];
    let control_len = cmsg::encode(&mut control, &[ControlMessage::UdpSegment(SEGMENT as u16)])?;
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

    let mut buf = vec![0u8; 2 * SEGMENT + 1];
    let first = receiver.recv(&mut buf)?;
    if buf[..first] != payload[..SEGMENT] {
        return Ok(false);
    }
    let second = receiver.recv(&mut buf)?;
    Ok(buf[..second] == payload[SEGMENT..])
}
