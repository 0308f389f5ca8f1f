//! What a cell sends, in one form every sender reads: which receiver each datagram goes to,
//! how the sequence is cut into send calls, and how many times it is sent.

/// One cell of the benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Cell<'a> {
    pub workload: &'a str,
    pub sender: &'a str,
    pub count: usize,
    pub size: usize,
    pub dests: usize,
    pub batch: usize,
}

/// The traffic of a cell (see `mmsg_bench_peers::Plan`, which the C peers read).
pub struct Plan {
    /// The receiver of each datagram, in sending order.
    pub order: Vec<u32>,
    /// Datagrams per send call, adding up to `order.len()`.
    pub calls: Vec<u32>,
    /// Times the whole sequence is sent.
    pub rounds: usize,
    /// Where each datagram's bytes are: slot `slots[i]` of the cell's buffer (see
    /// [`Plan::buffer`]). A call's datagrams (mixed) or a round's packets (fan-out) lie back
    /// to back, as a sender that writes its packets into one buffer lays them out; every
    /// sender reads the same bytes at the same places and sends them as its API allows.
    pub slots: Vec<u32>,
}

impl Plan {
    /// `mixed`: datagram i to receiver i mod D, K per call, once. `fanout`: K packets to
    /// every receiver (receiver after receiver) in one call, as many rounds as make at least
    /// N datagrams.
    pub fn of(c: &Cell) -> Plan {
        if c.workload == "mixed" {
            let order = (0..c.count).map(|i| (i % c.dests) as u32).collect();
            let mut calls = vec![c.batch as u32; c.count / c.batch];
            if !c.count.is_multiple_of(c.batch) {
                calls.push((c.count % c.batch) as u32);
            }
            let slots = calls.iter().flat_map(|&n| 0..n).collect::<Vec<u32>>();
            Plan {
                order,
                calls,
                rounds: 1,
                slots,
            }
        } else {
            let per_round = c.batch * c.dests;
            Plan {
                order: (0..c.dests as u32)
                    .flat_map(|d| std::iter::repeat_n(d, c.batch))
                    .collect(),
                calls: vec![per_round as u32],
                rounds: c.count.div_ceil(per_round).max(1),
                slots: (0..c.dests).flat_map(|_| 0..c.batch as u32).collect(),
            }
        }
    }

    /// The buffer every sender sends from: `size` bytes for each slot the plan names, back
    /// to back, each slot's bytes unlike its neighbours' so that a receiver can tell which
    /// slot it was sent.
    pub fn buffer(&self, size: usize) -> Vec<u8> {
        let slots = self.slots.iter().max().map_or(0, |&s| s as usize + 1);
        (0..slots * size)
            .map(|at| ((at / size) * 31 + at % size) as u8 ^ 0x5A)
            .collect()
    }

    /// Datagram `index`'s bytes in `buffer`.
    pub fn datagram<'b>(&self, buffer: &'b [u8], size: usize, index: usize) -> &'b [u8] {
        &buffer[self.slots[index] as usize * size..][..size]
    }

    /// Whether datagrams `first..first + n` are consecutive slots of the buffer, so that one
    /// vector covers them all.
    pub fn back_to_back(&self, first: usize, n: usize) -> bool {
        let start = self.slots[first] as usize;
        (first..first + n).all(|i| self.slots[i] as usize == start + (i - first))
    }

    /// Datagrams sent in all.
    pub fn datagrams(&self) -> usize {
        self.order.len() * self.rounds
    }

    /// The datagrams of each call, as ranges of `order`.
    pub fn call_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.calls.iter().scan(0usize, |start, &n| {
            let range = *start..*start + n as usize;
            *start = range.end;
            Some(range)
        })
    }

    /// Runs of consecutive datagrams to one receiver inside each call, at most `max_run`
    /// long: `(receiver, first datagram, datagrams)`, what a segmented send coalesces.
    pub fn runs(&self, max_run: usize) -> Vec<Vec<(u32, usize, usize)>> {
        self.call_ranges()
            .map(|range| {
                let mut runs = Vec::new();
                let mut i = range.start;
                while i < range.end {
                    let d = self.order[i];
                    let mut n = 1;
                    while n < max_run && i + n < range.end && self.order[i + n] == d {
                        n += 1;
                    }
                    runs.push((d, i, n));
                    i += n;
                }
                runs
            })
            .collect()
    }
}

/// The longest run one `UDP_SEGMENT` send may carry: 64 segments, 65 507 bytes.
pub fn max_gso_run(size: usize) -> usize {
    (65_507 / size.max(1)).clamp(1, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(workload: &'static str, count: usize, dests: usize, batch: usize) -> Cell<'static> {
        Cell {
            workload,
            sender: "std",
            count,
            size: 1200,
            dests,
            batch,
        }
    }

    #[test]
    fn mixed_cuts_the_sequence_into_calls_of_the_batch() {
        let p = Plan::of(&cell("mixed", 10, 3, 4));
        assert_eq!(p.order, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(p.calls, [4, 4, 2]);
        assert_eq!(p.slots, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
        assert_eq!(p.datagrams(), 10);
    }

    #[test]
    fn fanout_sends_each_receiver_its_batch_in_rounds() {
        let p = Plan::of(&cell("fanout", 13, 2, 3));
        assert_eq!(p.order, [0, 0, 0, 1, 1, 1]);
        assert_eq!(p.calls, [6]);
        assert_eq!(p.rounds, 3);
        assert_eq!(p.slots, [0, 1, 2, 0, 1, 2]);
        assert_eq!(p.datagrams(), 18);
    }

    #[test]
    fn runs_stop_at_calls_receivers_and_the_limit() {
        let p = Plan {
            order: vec![0, 0, 0, 1, 1, 1, 1, 1],
            calls: vec![2, 6],
            rounds: 1,
            slots: vec![0, 1, 0, 1, 2, 3, 4, 5],
        };
        assert_eq!(
            p.runs(2),
            [
                vec![(0, 0, 2)],
                vec![(0, 2, 1), (1, 3, 2), (1, 5, 2), (1, 7, 1)]
            ]
        );
        assert_eq!(max_gso_run(1200), 54);
        // Slots are laid back to back and tell each other apart.
        let buffer = p.buffer(10);
        assert_eq!(buffer.len(), 60);
        assert_eq!(p.datagram(&buffer, 10, 3), &buffer[10..20]);
        assert_ne!(p.datagram(&buffer, 10, 3), p.datagram(&buffer, 10, 4));
        assert!(p.back_to_back(3, 5));
        assert!(!p.back_to_back(1, 2));
        assert_eq!(max_gso_run(64), 64);
        assert_eq!(max_gso_run(65_507), 1);
    }
}
