//! # mmsg: many datagrams per system call
//!
//! `mmsg` sends and receives batches of datagrams the way GLib's
//! `g_socket_send_messages()` does: each message has its own destination and is gathered
//! from several buffers, a whole batch goes to the kernel in one `sendmmsg`, blocking
//! sockets wait for room, non-blocking ones return what was sent, errors come only when
//! nothing was sent, and a [`Cancellable`] interrupts any wait. The same API and rules hold
//! on Windows, where a batch goes out as a loop of `WSASendMsg` calls (Winsock has no
//! batch call); Unix-only items (Unix sockets, descriptor passing) are compiled on Unix
//! only.
//!
//! ```
//! use std::io::{IoSlice, IoSliceMut};
//! use mmsg::{Domain, InputMessage, MsgFlags, OutputMessage, SockAddr, Socket, Type};
//!
//! let receiver = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
//! receiver.bind(&SockAddr::from("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()))?;
//! let to = receiver.local_address()?;
//!
//! // An RTP-like stream: one header vector and one payload vector per packet.
//! let sender = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
//! let headers: Vec<[u8; 4]> = (0u16..3).map(|seq| [0x80, 96, (seq >> 8) as u8, seq as u8]).collect();
//! let payload = [7u8; 100];
//! let vectors: Vec<[IoSlice; 2]> =
//!     headers.iter().map(|h| [IoSlice::new(h), IoSlice::new(&payload)]).collect();
//! let mut batch: Vec<OutputMessage> =
//!     vectors.iter().map(|v| OutputMessage::new(Some(&to), v)).collect();
//! assert_eq!(sender.send_messages(&mut batch, MsgFlags::empty(), None)?, 3);
//!
//! let mut bufs = [[0u8; 200]; 3];
//! let mut slots: Vec<[IoSliceMut; 1]> = bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
//! let mut inputs: Vec<InputMessage> = slots.iter_mut().map(|s| InputMessage::new(s)).collect();
//! let mut got = 0;
//! while got < 3 {
//!     got += receiver.receive_messages(&mut inputs[got..], MsgFlags::empty(), None)?;
//! }
//! assert!(inputs.iter().all(|m| m.bytes_received == 104));
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio")]
mod async_tokio;
mod cancellable;
mod condition;
mod control;
mod error;
mod fanout;
mod flags;
mod gro;
mod gso;
mod message;
mod receive_batch;
mod recv;
mod send;
mod socket;
mod sys;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_tokio::AsyncSocket;
pub use cancellable::Cancellable;
pub use control::{ControlBuffer, ControlMessage, ReceivedControlMessage};
pub use error::{is_cancelled, Cancelled};
pub use fanout::Recipient;
pub use flags::{IoCondition, MsgFlags};
pub use message::{InputMessage, OutputMessage};
pub use receive_batch::{Buffer, ReceiveBatch};
pub use socket::Socket;
pub use socket2::{Domain, Protocol, SockAddr, Type};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
