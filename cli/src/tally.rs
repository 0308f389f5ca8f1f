//! Counting a numbered stream as it arrives: new, duplicate, out of order, missing.

/// What the arrival of one sequence number was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    New,
    Duplicate,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Bit `seq` set: `seq` arrived.
    seen: Vec<u64>,
    /// Distinct sequence numbers that arrived.
    pub unique: u64,
    /// The highest sequence number that arrived.
    pub highest: Option<u64>,
    /// Arrivals (not duplicates) after a higher sequence number had arrived.
    pub out_of_order: u64,
    pub duplicates: u64,
}

impl Tally {
    /// Records `seq`. The caller bounds `seq` (the record takes `seq / 8` bytes).
    pub fn record(&mut self, seq: u64) -> Arrival {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[word] |= 1 << bit;
        self.unique += 1;
        match self.highest {
            Some(h) if seq < h => self.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
        Arrival::New
    }

    /// How many of `0..end` did not arrive (of those, only `end` itself is unbounded: pass
    /// the stream's length, or [`Tally::span`] when it is not known).
    pub fn missing_below(&self, end: u64) -> u64 {
        let arrived_below: u64 = self
            .seen
            .iter()
            .enumerate()
            .map(|(word, bits)| {
                let first = word as u64 * 64;
                if first >= end {
                    0
                } else if end - first >= 64 {
                    u64::from(bits.count_ones())
                } else {
                    u64::from((bits & ((1u64 << (end - first)) - 1)).count_ones())
                }
            })
            .sum();
        end - arrived_below
    }

    /// One past the highest sequence number that arrived (0 if none did).
    pub fn span(&self) -> u64 {
        self.highest.map_or(0, |h| h + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reordering_duplicates_and_gaps() {
        let mut t = Tally::default();
        for seq in [0, 1, 3, 2, 2, 70, 5] {
            t.record(seq);
        }
        assert_eq!((t.unique, t.duplicates, t.out_of_order), (6, 1, 2));
        assert_eq!(t.span(), 71);
        assert_eq!(t.missing_below(t.span()), 71 - 6);
        assert_eq!(t.missing_below(4), 0);
        assert_eq!(t.missing_below(6), 1);
        assert_eq!(t.missing_below(200), 200 - 6);
        assert_eq!(Tally::default().missing_below(3), 3);
    }
}
