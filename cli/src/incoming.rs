//! What `mmsg sink` makes of the datagrams it receives: the stream's parameters from the
//! first datagram that is whole, each datagram checked and counted, file chunks written at
//! their offset.

use std::fs::File;
use std::path::PathBuf;

use crate::args::{Context, Fail};
use crate::platform;
use crate::tally::{Arrival, Tally, WINDOW};
use crate::wire::{self, Header};

pub struct Incoming {
    /// The header of the first datagram that was whole: the stream every other datagram
    /// must belong to.
    stream: Option<Header>,
    pub tally: Tally,
    /// Datagrams of the stream, duplicates included, and their bytes (headers included).
    pub datagrams: u64,
    pub bytes: u64,
    /// Datagrams with no header, or of another stream.
    pub foreign: u64,
    /// Of the foreign datagrams, those declaring a file longer than `max_file_size`.
    pub too_large: u64,
    /// The longest file this sink takes (--max-file-size).
    pub max_file_size: u64,
    /// Datagrams of the stream whose length or content is wrong, or whose sequence number
    /// is more than [`WINDOW`] ahead of the highest so far or behind the record's window
    /// (discarded).
    pub corrupt: u64,
    output: Option<(File, PathBuf)>,
    /// File chunks that follow one another, gathered for one positional write (a write per
    /// datagram would cost the sink more than receiving it): the offset and the bytes.
    gathered: (u64, Vec<u8>),
}

/// The most file bytes gathered before they are written.
const GATHER: usize = 1 << 20;

impl Incoming {
    pub fn new(output: Option<(File, PathBuf)>, max_file_size: u64) -> Incoming {
        Incoming {
            stream: None,
            tally: Tally::default(),
            datagrams: 0,
            bytes: 0,
            foreign: 0,
            too_large: 0,
            max_file_size,
            corrupt: 0,
            output,
            gathered: (0, Vec::with_capacity(GATHER)),
        }
    }

    /// The stream's parameters, once a datagram arrived.
    pub fn stream(&self) -> Option<&Header> {
        self.stream.as_ref()
    }

    /// Checks, counts and (for file data) writes one datagram.
    pub fn accept(&mut self, datagram: &[u8]) -> Result<(), Fail> {
        let Some(header) = Header::decode(datagram).filter(plausible) else {
            self.foreign += 1;
            return Ok(());
        };
        if header.is_file() && header.length > self.max_file_size {
            self.too_large += 1;
            self.foreign += 1;
            return Ok(());
        }
        if self
            .stream
            .is_some_and(|stream| !stream.same_stream(&header))
        {
            self.foreign += 1;
            return Ok(());
        }
        self.datagrams += 1;
        self.bytes += datagram.len() as u64;
        let payload = &datagram[wire::LEN..];
        // A wild jump ahead is refused here; one within reach may still slide the record's
        // window, counting what it leaves behind as lost (see tally::WINDOW).
        let reach = self.tally.highest.unwrap_or(0).saturating_add(WINDOW);
        if header.seq > reach || !intact(&header, payload) {
            self.corrupt += 1;
            return Ok(());
        }
        if self.stream.is_none() {
            // Only now: a header whose payload disagrees with it neither names the stream
            // (shutting the real one out) nor sizes the output.
            self.start(header)?;
        }
        match self.tally.record(header.seq) {
            Arrival::New if header.is_file() && self.output.is_some() => {
                let offset = header.seq * u64::from(header.chunk);
                let (at, bytes) = &self.gathered;
                if *at + bytes.len() as u64 != offset || bytes.len() + payload.len() > GATHER {
                    self.flush()?;
                    self.gathered.0 = offset;
                }
                self.gathered.1.extend_from_slice(payload);
            }
            Arrival::New | Arrival::Duplicate => {}
            // Already counted lost: whether it is a duplicate can no longer be told.
            Arrival::Late => self.corrupt += 1,
        }
        Ok(())
    }

    /// Writes the file chunks gathered so far (call after each batch, and at the end).
    pub fn flush(&mut self) -> Result<(), Fail> {
        let (at, bytes) = &mut self.gathered;
        if let (Some((file, path)), false) = (&self.output, bytes.is_empty()) {
            platform::write_all_at(file, bytes, *at)
                .runtime_context(|| format!("cannot write {}", path.display()))?;
        }
        bytes.clear();
        Ok(())
    }

    /// Takes `header`'s stream (of a whole datagram, its length at most `max_file_size`) as
    /// the one to receive; sizes the output file for it.
    fn start(&mut self, header: Header) -> Result<(), Fail> {
        self.stream = Some(header);
        if let (Some((file, path)), true) = (&self.output, header.is_file()) {
            file.set_len(header.length)
                .runtime_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Whether every datagram of a stream of known length arrived.
    pub fn complete(&self) -> bool {
        self.stream
            .is_some_and(|s| s.total > 0 && self.tally.unique == s.total)
    }

    /// Datagrams missing: of the whole stream when `ended` and its length is known, else
    /// below the highest sequence number that arrived.
    pub fn lost(&self, ended: bool) -> u64 {
        match self.stream {
            Some(s) if ended && s.total > 0 => self.tally.missing_below(s.total),
            _ => self.tally.missing_below(self.tally.span()),
        }
    }

    /// Where file data went, if a file arrived and an output was given.
    pub fn written(&self) -> Option<(&PathBuf, u64)> {
        match (&self.output, self.stream) {
            (Some((_, path)), Some(s)) if s.is_file() => Some((path, s.length)),
            _ => None,
        }
    }
}

/// Whether a header describes a stream that can exist.
fn plausible(h: &Header) -> bool {
    let chunk = u64::from(h.chunk);
    if chunk == 0 || (h.total > 0 && h.seq >= h.total) {
        return false;
    }
    if h.is_file() {
        // The chunk count a file of this length takes (an empty file is one empty chunk).
        h.total == h.length.div_ceil(chunk).max(1)
    } else {
        h.length == 0
    }
}

/// Whether the payload is what the sender must have sent for this header.
fn intact(h: &Header, payload: &[u8]) -> bool {
    if h.is_file() {
        h.expected_file_payload() == Some(payload.len() as u64)
    } else {
        payload.len() == h.chunk as usize && wire::is_generated(h.seq, payload)
    }
}
