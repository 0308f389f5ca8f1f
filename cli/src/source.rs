//! What `mmsg send` sends: a file cut into chunks, or generated data.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::args::{self, Context, Fail};
use crate::platform;
use crate::wire::{self, Header};

pub enum Source {
    File {
        file: File,
        path: PathBuf,
        length: u64,
    },
    /// `count` datagrams, or until interrupted.
    Generated { count: Option<u64> },
}

impl Source {
    pub fn file(path: &Path) -> Result<Source, Fail> {
        let shown = path.display();
        let file = args::regular_file(path, OpenOptions::new().read(true), "read")?;
        let metadata = file.metadata().context(|| format!("cannot read {shown}"))?;
        Ok(Source::File {
            file,
            path: path.to_path_buf(),
            length: metadata.len(),
        })
    }

    /// Datagrams in the stream with `chunk` payload bytes each; `None`: until interrupted.
    /// An empty file is one empty datagram, so that the sink still gets the file.
    pub fn total(&self, chunk: usize) -> Option<u64> {
        match self {
            Source::File { length, .. } => Some(length.div_ceil(chunk as u64).max(1)),
            Source::Generated { count } => *count,
        }
    }

    /// File length in bytes (0 for generated data).
    pub fn length(&self) -> u64 {
        match self {
            Source::File { length, .. } => *length,
            Source::Generated { .. } => 0,
        }
    }

    /// The header of datagram `seq`.
    pub fn header(&self, seq: u64, chunk: usize, total: Option<u64>) -> Header {
        let mut flags = 0;
        if matches!(self, Source::File { .. }) {
            flags |= wire::FILE;
        }
        if total.is_some_and(|t| seq + 1 == t) {
            flags |= wire::LAST;
        }
        Header {
            flags,
            chunk: chunk as u32,
            seq,
            total: total.unwrap_or(0),
            length: self.length(),
        }
    }

    /// Writes the payload of the datagram with `header` into `buffer` (at least a chunk
    /// long); returns its length.
    pub fn payload(&self, header: &Header, buffer: &mut [u8]) -> Result<usize, Fail> {
        match self {
            Source::File { file, path, .. } => {
                let len = header
                    .expected_file_payload()
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|&l| l <= buffer.len())
                    .ok_or_else(|| {
                        Fail::runtime(format!("chunk {} is past the end", header.seq))
                    })?;
                let offset = header.seq * u64::from(header.chunk);
                platform::read_exact_at(file, &mut buffer[..len], offset).map_err(|e| {
                    match e.kind() {
                        io::ErrorKind::UnexpectedEof => {
                            Fail::runtime(format!("{} shrank while being sent", path.display()))
                        }
                        _ => Fail::runtime(format!("cannot read {}: {e}", path.display())),
                    }
                })?;
                Ok(len)
            }
            Source::Generated { .. } => {
                let len = (header.chunk as usize).min(buffer.len());
                wire::fill_generated(header.seq, &mut buffer[..len]);
                Ok(len)
            }
        }
    }
}
