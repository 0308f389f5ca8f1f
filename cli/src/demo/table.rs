//! The demo's summary: per receiver, then per send path.

use super::phase::Outcome;
use crate::{platform, units};

pub fn print(outcomes: &[Outcome]) {
    say!();
    say!(
        "{:<18} {:<21} {:>9} {:>11} {:>9} {:>5} {:>12} {:>7}",
        "send path",
        "receiver",
        "sent",
        "bytes sent",
        "received",
        "lost",
        "out of order",
        "intact"
    );
    for o in outcomes {
        for leg in &o.legs {
            say!(
                "{:<18} {:<21} {:>9} {:>11} {:>9} {:>5} {:>12} {:>7}",
                o.path.name(),
                leg.address.to_string(),
                leg.sent.packets,
                units::bytes(leg.sent.bytes),
                leg.received.packets,
                leg.lost(),
                leg.received.tally.out_of_order,
                if leg.intact() { "yes" } else { "NO" }
            );
        }
    }
    say!();
    say!(
        "{:<18} {:>9} {:>10} {:>14} {:>16} {:>21}",
        "send path",
        "packets",
        "packets/s",
        "send syscalls",
        "syscalls/packet",
        "sender CPU ns/packet"
    );
    for o in outcomes {
        let packets = o.packets();
        let cpu = match o.cpu {
            Some(cpu) if packets > 0 => format!("{:.0}", cpu.as_nanos() as f64 / packets as f64),
            _ => "-".to_string(),
        };
        say!(
            "{:<18} {:>9} {:>10.0} {:>14} {:>16.4} {:>21}",
            o.path.name(),
            packets,
            units::per_second(packets, o.elapsed),
            o.syscalls,
            units::ratio(o.syscalls, packets),
            cpu
        );
    }
    if let [a, b] = outcomes {
        if a.syscalls < b.syscalls {
            if let (Some(ca), Some(cb)) = (a.cpu, b.cpu) {
                if ca.as_nanos() > 0 && a.packets() == b.packets() {
                    say!();
                    say!(
                        "{} made {:.0}x fewer send syscalls than {} and its thread used {:.1}x less CPU, for the same packets.",
                        a.path.name(),
                        units::ratio(b.syscalls, a.syscalls.max(1)),
                        b.path.name(),
                        cb.as_secs_f64() / ca.as_secs_f64()
                    );
                }
            }
        } else if a.packets() > 0 {
            say!();
            for line in platform::ONE_CALL_PER_DATAGRAM {
                say!("{line}");
            }
        }
    }
    say!(
        "Send syscalls: mmsg's own count of its {} calls; std's send_to is one",
        platform::SEND_CALLS
    );
    say!("sendto each. Sender CPU: the sending thread over the run, building frames, pacing and");
    say!("sending (std also copies each packet into one buffer; on loopback, sending includes");
    say!("the kernel's delivery to the receivers).");
}
