//! The MIDI gate as the listener hears it. A note-on starts a voice whose first sound comes
//! out one latency later (the look-ahead frame and the resampler); opening and closing the
//! envelope at that moment keeps the attack and release on the sound, not ahead of it.

/// Transitions waiting for their moment; more than this many within one latency (about
/// 20 ms) are applied early rather than stored.
const QUEUE: usize = 8;

#[derive(Clone)]
pub struct DelayedGate {
    open: bool,
    /// (position, open) in the order they were scheduled.
    pending: [(u64, bool); QUEUE],
    len: usize,
}

impl DelayedGate {
    pub fn new(open: bool) -> DelayedGate {
        DelayedGate { open, pending: [(0, false); QUEUE], len: 0 }
    }

    /// Opens or closes the gate now, forgetting what was scheduled.
    pub fn set_now(&mut self, open: bool) {
        self.open = open;
        self.len = 0;
    }

    /// Opens or closes the gate at `position`.
    pub fn schedule(&mut self, position: u64, open: bool) {
        if self.len == QUEUE {
            self.open = self.pending[0].1;
            self.pending.copy_within(1.., 0);
            self.len -= 1;
        }
        self.pending[self.len] = (position, open);
        self.len += 1;
    }

    /// Whether a transition is still to come.
    pub fn waiting(&self) -> bool {
        self.len > 0
    }

    /// The gate at `position`, after applying every transition due by then.
    pub fn at(&mut self, position: u64) -> bool {
        let due = self.pending[..self.len].iter().take_while(|(at, _)| *at <= position).count();
        if due > 0 {
            self.open = self.pending[due - 1].1;
            self.pending.copy_within(due..self.len, 0);
            self.len -= due;
        }
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_take_effect_at_their_position_in_order() {
        let mut g = DelayedGate::new(false);
        g.schedule(10, true);
        g.schedule(20, false);
        assert!(!g.at(9) && g.waiting());
        assert!(g.at(10) && g.at(19));
        assert!(!g.at(20) && !g.waiting());
        g.schedule(30, true);
        g.set_now(false);
        assert!(!g.at(40), "set_now forgets what was scheduled");
    }

    #[test]
    fn a_full_queue_applies_its_oldest_transition_early() {
        let mut g = DelayedGate::new(false);
        for i in 0..=QUEUE as u64 {
            g.schedule(100 + i, i % 2 == 0);
        }
        assert!(g.waiting());
        assert!(g.at(100 + QUEUE as u64), "the last one scheduled (even: open) wins");
    }
}
