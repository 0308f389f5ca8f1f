//! One run of the stream through one send path, with its receivers and measurements.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mmsg::Cancellable;

use super::receiver::{Received, Receiver};
use super::senders::{Fanout, FrameSender, Sent, StdSendTo};
use super::video::Frame;
use crate::args::{Context, Fail};
use crate::pace::{self, Pacer};
use crate::{cpu, progress};

/// The most packets of a frame sent at once: a frame goes out in bursts of this many,
/// spread over the frame's interval, as video senders pace, so that a key frame does not
/// land on the receivers all at once.
const BURST: usize = 16;

/// How long receivers may go without a new datagram before the rest counts as lost.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Fanout,
    StdSendTo,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::Fanout => "mmsg send_fanout",
            Path::StdSendTo => "std send_to",
        }
    }
}

pub struct Plan {
    pub receivers: usize,
    pub fps: u32,
    pub frames: u64,
}

/// What one receiver was sent and got.
pub struct Leg {
    pub address: SocketAddr,
    pub sent: Sent,
    pub received: Received,
}

impl Leg {
    pub fn lost(&self) -> u64 {
        self.received.tally.missing_below(self.sent.packets)
    }

    /// Every packet sent arrived once, in order, byte for byte.
    pub fn intact(&self) -> bool {
        let r = &self.received;
        self.lost() == 0
            && r.packets == self.sent.packets
            && r.bytes == self.sent.bytes
            && r.tally.out_of_order == 0
            && r.tally.duplicates == 0
            && r.corrupt == 0
    }
}

pub struct Outcome {
    pub path: Path,
    pub legs: Vec<Leg>,
    /// From the first frame sent to the last.
    pub elapsed: Duration,
    pub syscalls: u64,
    /// CPU time of the sending thread over the run, where the OS tells.
    pub cpu: Option<Duration>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn packets(&self) -> u64 {
        self.legs.iter().map(|l| l.sent.packets).sum()
    }

    /// What went wrong, one line each.
    pub fn faults(&self) -> Vec<String> {
        let mut faults: Vec<String> = self.error.iter().cloned().collect();
        for leg in self.legs.iter().filter(|l| !l.intact()) {
            let r = &leg.received;
            faults.push(format!(
                "{} to {}: sent {} packets ({} bytes), received {} ({} bytes), lost {}, out of order {}, duplicates {}, corrupt {}",
                self.path.name(),
                leg.address,
                leg.sent.packets,
                leg.sent.bytes,
                r.packets,
                r.bytes,
                leg.lost(),
                r.tally.out_of_order,
                r.tally.duplicates,
                r.corrupt
            ));
        }
        faults
    }
}

/// Streams `plan` through `path` to fresh receivers; `cancel` (Ctrl-C) stops it early.
pub fn run(path: Path, plan: &Plan, cancel: &Cancellable) -> Result<Outcome, Fail> {
    let stop = Cancellable::new();
    let mut receivers = Vec::with_capacity(plan.receivers);
    for _ in 0..plan.receivers {
        let receiver = Receiver::start(&stop);
        if receiver.is_err() {
            stop.cancel();
        }
        receivers.push(receiver.context(|| "cannot start a receiver on 127.0.0.1".into())?);
    }
    let addresses: Vec<SocketAddr> = receivers.iter().map(|r| r.address).collect();
    let sender = open_sender(path, &addresses, cancel);
    if sender.is_err() {
        stop.cancel();
    }
    let mut sender = sender.context(|| format!("cannot open the {} socket", path.name()))?;

    let mut sent = vec![Sent::default(); plan.receivers];
    let (elapsed, cpu, error) = stream(sender.as_mut(), plan, path, &mut sent, cancel);
    settle(&receivers, &sent);
    stop.cancel();

    let mut legs = Vec::with_capacity(receivers.len());
    let mut error = error;
    for (receiver, sent) in receivers.into_iter().zip(sent) {
        let address = receiver.address;
        let received = receiver.finish().unwrap_or_else(|e| {
            error.get_or_insert(format!("receiver {address}: {e}"));
            Received::default()
        });
        legs.push(Leg {
            address,
            sent,
            received,
        });
    }
    Ok(Outcome {
        path,
        legs,
        elapsed,
        syscalls: sender.syscalls(),
        cpu,
        error,
    })
}

fn open_sender<'c>(
    path: Path,
    to: &[SocketAddr],
    cancel: &'c Cancellable,
) -> std::io::Result<Box<dyn FrameSender + 'c>> {
    Ok(match path {
        Path::Fanout => Box::new(Fanout::new(to, cancel)?),
        Path::StdSendTo => Box::new(StdSendTo::new(to)?),
    })
}

/// Sends the frames at the plan's rate; returns the time taken, the CPU time the sending
/// thread used (building frames, pacing, sending), and the error that stopped it, if any.
fn stream(
    sender: &mut dyn FrameSender,
    plan: &Plan,
    path: Path,
    sent: &mut [Sent],
    cancel: &Cancellable,
) -> (Duration, Option<Duration>, Option<String>) {
    let bar = progress::items(plan.frames, path.name(), "frames");
    let pacer = Pacer::new(Some(f64::from(plan.fps)));
    let interval = Duration::from_secs(1) / plan.fps;
    let mut frame = Frame::default();
    let mut next_packet = 0;
    let mut error = None;
    let cpu_start = cpu::thread_time();
    let started = Instant::now();
    'frames: for index in 0..plan.frames {
        frame.build(index, plan.fps, next_packet);
        next_packet += frame.len() as u64;
        let bursts = frame.len().div_ceil(BURST);
        for burst in 0..bursts {
            let due = pacer.due(index) + interval * burst as u32 / bursts as u32;
            if pace::sleep_until(due, Some(cancel)) {
                break 'frames;
            }
            let range = burst * BURST..((burst + 1) * BURST).min(frame.len());
            if let Err(e) = sender.send(&frame, range, sent) {
                error = Some(format!("{}: {e}", path.name()));
                break 'frames;
            }
            if cancel.is_cancelled() {
                break 'frames;
            }
        }
        bar.inc(1);
    }
    let elapsed = started.elapsed();
    let cpu = cpu::thread_time_since(cpu_start);
    bar.finish_and_clear();
    (elapsed, cpu, error)
}

/// Waits until every receiver got as many datagrams as it was sent, or none got anything
/// new for [`SETTLE`].
fn settle(receivers: &[Receiver], sent: &[Sent]) {
    let count = || -> u64 {
        receivers
            .iter()
            .map(|r| r.progress.load(Ordering::Relaxed))
            .sum()
    };
    let expected: u64 = sent.iter().map(|s| s.packets).sum();
    let (mut last, mut since) = (count(), Instant::now());
    while last < expected && since.elapsed() < SETTLE {
        pace::sleep_until(Instant::now() + Duration::from_millis(1), None);
        let now = count();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}
