//! The plugin's audio input: the main input (effect layout) or the sidechain (instrument
//! layouts) mixed to mono for the voices to follow, and the same delayed by the latency the
//! plugin reports, as the dry signal, so that dry and generated line up after the host's
//! compensation. Allocation-free after construction.

pub struct Input {
    mono: Vec<f32>,
    /// A ring of past input samples; `write` is where the next one goes.
    ring: Vec<f32>,
    write: usize,
    delay: usize,
    /// Samples in the block last mixed.
    len: usize,
}

impl Input {
    /// For blocks of up to `max_block` samples and delays of up to `max_delay`.
    pub fn new(max_block: usize, max_delay: usize) -> Input {
        Input {
            mono: vec![0.0; max_block.max(1)],
            ring: vec![0.0; max_delay + 1],
            write: 0,
            delay: 0,
            len: 0,
        }
    }

    /// Delays the dry signal by `samples` (at most the `max_delay` it was built for).
    pub fn set_delay(&mut self, samples: usize) {
        self.delay = samples.min(self.ring.len() - 1);
    }

    pub fn reset(&mut self) {
        self.ring.fill(0.0);
    }

    /// Mixes the block's `n` samples of `channels` to mono (silence without any).
    pub fn mix<C: AsRef<[f32]>>(&mut self, channels: &[C], n: usize) {
        let n = n.min(self.mono.len());
        let mono = &mut self.mono[..n];
        mono.fill(0.0);
        let scale = 1.0 / channels.len().max(1) as f32;
        for c in channels {
            for (m, x) in mono.iter_mut().zip(c.as_ref()) {
                *m += x * scale;
            }
        }
        // The dry path goes to the host: nothing non-finite (the listener cleans its own).
        for m in mono.iter_mut() {
            if !m.is_finite() {
                *m = 0.0;
            }
        }
        self.len = n;
    }

    /// Up to `len` samples of the block last mixed, from sample `from`.
    pub fn mono(&self, from: usize, len: usize) -> &[f32] {
        let from = from.min(self.len);
        &self.mono[from..(from + len).min(self.len)]
    }

    /// Sample `i` of the block last mixed, delayed: call once per sample, in order.
    pub fn dry(&mut self, i: usize) -> f32 {
        let len = self.ring.len();
        self.ring[self.write] = self.mono(i, 1).first().copied().unwrap_or(0.0);
        let out = self.ring[(self.write + len - self.delay) % len];
        self.write = (self.write + 1) % len;
        out
    }
}
