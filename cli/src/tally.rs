//! Counting a numbered stream as it arrives: new, duplicate, out of order, missing.

use std::collections::VecDeque;

/// How many sequence numbers below the highest the record remains exact for: one that has
/// not arrived by the time it falls this far behind is counted missing for good, and if it
/// comes after all it is [`Arrival::Late`]. However sequence numbers jump, the record stays
/// at most this many bits (2 MiB): a datagram 16 777 216 places late is lost in all but name.
pub const WINDOW: u64 = 1 << 24;
const WORDS: u64 = WINDOW / 64;

/// What the arrival of one sequence number was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    New,
    Duplicate,
    /// Behind the window: already counted missing, and whether it came before is forgotten.
    Late,
}

#[derive(Debug, Default)]
pub struct Tally {
    /// Bit `seq % 64` of word `seq / 64 - first_word`: `seq` arrived. At most [`WORDS`]
    /// words, from the window's back edge to the highest sequence number.
    seen: VecDeque<u64>,
    /// `seq / 64` of the sequence numbers in `seen[0]`.
    first_word: u64,
    /// Sequence numbers that arrived and have since fallen behind the window.
    arrived_behind: u64,
    /// Distinct sequence numbers that arrived.
    pub unique: u64,
    /// The highest sequence number that arrived.
    pub highest: Option<u64>,
    /// Arrivals (not duplicates) after a higher sequence number had arrived.
    pub out_of_order: u64,
    pub duplicates: u64,
}

impl Tally {
    /// Records `seq`. A `seq` far ahead slides the window (see [`WINDOW`]), so memory
    /// stays bounded whatever arrives.
    pub fn record(&mut self, seq: u64) -> Arrival {
        let word = seq / 64;
        if word < self.first_word {
            return Arrival::Late;
        }
        if word - self.first_word >= WORDS {
            self.slide_to(word + 1 - WORDS);
        }
        let at = (word - self.first_word) as usize;
        if at >= self.seen.len() {
            self.seen.resize(at + 1, 0);
        }
        let bit = 1u64 << (seq % 64);
        if self.seen[at] & bit != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[at] |= bit;
        self.unique += 1;
        match self.highest {
            Some(h) if seq < h => self.out_of_order += 1,
            _ => self.highest = Some(seq),
        }
        Arrival::New
    }

    /// Moves the window's back edge up to word `first`; what arrived below it is kept as a
    /// count only.
    fn slide_to(&mut self, first: u64) {
        let gone = (first - self.first_word).min(self.seen.len() as u64) as usize;
        if gone == self.seen.len() {
            // Everything recorded so far is behind the new edge: no need to count bits.
            self.arrived_behind = self.unique;
            self.seen.clear();
        } else {
            let arrived: u64 = self
                .seen
                .drain(..gone)
                .map(|bits| u64::from(bits.count_ones()))
                .sum();
            self.arrived_behind += arrived;
        }
        self.first_word = first;
    }

    /// How many of `0..end` did not arrive, for `end` at least [`Tally::span`] (pass the
    /// stream's length, or the span when it is not known).
    pub fn missing_below(&self, end: u64) -> u64 {
        let arrived_in_window: u64 = self
            .seen
            .iter()
            .enumerate()
            .map(|(i, bits)| {
                let first = (self.first_word + i as u64) * 64;
                if first >= end {
                    0
                } else if end - first >= 64 {
                    u64::from(bits.count_ones())
                } else {
                    u64::from((bits & ((1u64 << (end - first)) - 1)).count_ones())
                }
            })
            .sum();
        end.saturating_sub(self.arrived_behind + arrived_in_window)
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

    #[test]
    fn the_record_slides_instead_of_growing() {
        let mut t = Tally::default();
        // Jumps of a whole window each, as a forged stream makes them: 2 MiB at most.
        for k in 0..=400u64 {
            assert_eq!(t.record(k * WINDOW), Arrival::New);
            assert!(t.seen.len() as u64 <= WORDS, "{} words", t.seen.len());
        }
        assert_eq!(t.unique, 401);
        assert_eq!(t.missing_below(t.span()), 400 * WINDOW - 400);
        // Behind the window: too late to tell from a duplicate.
        assert_eq!(t.record(5), Arrival::Late);
        assert_eq!(t.unique, 401);
        assert_eq!(t.record(400 * WINDOW), Arrival::Duplicate);
    }

    #[test]
    fn a_slide_counts_what_fell_behind() {
        let mut t = Tally::default();
        for seq in [0, 1, 2, 64, 130] {
            t.record(seq);
        }
        // Words 0 and 1 fall behind (4 arrivals in them); word 2 (130) stays.
        t.record(130 + WINDOW - 64);
        assert_eq!(t.first_word, 2);
        assert_eq!(t.arrived_behind, 4);
        assert_eq!(t.record(64), Arrival::Late);
        assert_eq!(t.record(130), Arrival::Duplicate);
        assert_eq!(t.unique, 6);
        assert_eq!(t.missing_below(t.span()), t.span() - 6);
        assert_eq!(t.missing_below(t.span() + 10), t.span() + 10 - 6);
    }
}
