//! `mmsg demo` (and `mmsg` with no arguments): an RTP-like video fanned out to receivers
//! on loopback, first with mmsg's `send_fanout`, then with `std`'s `send_to`, every packet
//! checked; a table compares the two.

mod phase;
mod receiver;
mod senders;
mod table;
mod video;

use std::time::Duration;

use crate::args::{self, fail, Fail, EXIT_FAILED};
use crate::interrupt::{self, EXIT_INTERRUPTED};
use phase::{Path, Plan};

const EXAMPLES: &str = "\
Examples:
  mmsg                      # the same as `mmsg demo`
  mmsg demo --seconds 10    # a longer run
  mmsg demo --receivers 16 --fps 60

The stream: frames at --fps, each 40 to 60 RTP packets (a key frame a second is three times
larger) of a 12-byte header and a 1200-byte payload, the last packet shorter, sent in bursts
of up to 16 packets spread over the frame's interval. Each send path gets half of --seconds. The exit status is 0 only if every receiver got every packet, intact
and in order, on both paths.";

/// Arguments of `mmsg demo`.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct DemoArgs {
    /// How long to run, in seconds, shared between the two send paths
    #[arg(
        long,
        value_name = "S",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    seconds: f64,
    /// How many receivers to fan out to
    #[arg(long, value_name = "N", default_value_t = 4)]
    receivers: usize,
    /// Video frames per second
    #[arg(long, value_name = "FPS", default_value_t = 30)]
    fps: u32,
}

impl Default for DemoArgs {
    fn default() -> DemoArgs {
        DemoArgs {
            seconds: 5.0,
            receivers: 4,
            fps: 30,
        }
    }
}

pub fn run(args: DemoArgs) -> Result<i32, Fail> {
    let duration = args::seconds("--seconds", args.seconds)?;
    if !(1..=256).contains(&args.receivers) {
        return fail(format!("--receivers {} is not 1 to 256", args.receivers));
    }
    if !(1..=1000).contains(&args.fps) {
        return fail(format!("--fps {} is not 1 to 1000", args.fps));
    }
    let per_path = duration / 2;
    let frames = ((per_path.as_secs_f64() * f64::from(args.fps)).round() as u64).max(1);
    let plan = Plan {
        receivers: args.receivers,
        fps: args.fps,
        frames,
    };
    let cancel = interrupt::cancel_on_ctrl_c()?;
    say!(
        "mmsg demo: a {} fps RTP-like video, {frames} frames, to {} receivers on 127.0.0.1, sent with each path in turn ({:.1} s each)",
        args.fps,
        args.receivers,
        Duration::from_secs_f64(frames as f64 / f64::from(args.fps)).as_secs_f64()
    );
    let mut results = Vec::new();
    for path in [Path::Fanout, Path::StdSendTo] {
        results.push(phase::run(path, &plan, &cancel)?);
        if cancel.is_cancelled() {
            break;
        }
    }
    table::print(&results);
    let faults: Vec<String> = results.iter().flat_map(phase::Outcome::faults).collect();
    for fault in &faults {
        say!("FAILED: {fault}");
    }
    if cancel.is_cancelled() {
        say!("interrupted");
        return Ok(EXIT_INTERRUPTED);
    }
    if faults.is_empty() {
        say!("every receiver got every packet, intact and in order, on both paths");
        Ok(0)
    } else {
        Ok(EXIT_FAILED)
    }
}
