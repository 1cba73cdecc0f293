//! The MDCT domain: frame t holds the N = frame_size coefficients of the 2N samples
//! [(t-1)N, (t+1)N) under a sine window (Princen-Bradley: w[n]^2 + w[n+N]^2 = 1), scaled by
//! sqrt(2/N) so that the lapped transform is orthogonal (its log-determinant is 0).
//! Synthesis overlap-adds each inverse block's first half onto the previous block's second
//! half, so a frame's samples are finished one frame after it: one frame of latency.
//!
//! Both directions are dense matrix-vector products through the packed SIMD kernel: at
//! N = 200 that is 80 k multiply-adds per frame, a few percent of a generation step of the
//! built-in voice's size (`cargo bench -p vrnn-core -- domain/`), with no state beyond the
//! tables.

use super::{Finished, FrameCodec, LiveAnalyser};
use crate::kernel::Isa;
use crate::nn::{pad_vec, Dense};

pub struct Mdct {
    n: usize,
    isa: Isa,
    /// [N, 2N]: windowed block -> coefficients.
    analysis: Dense,
    /// [2N, N]: coefficients -> windowed block (the transpose).
    synthesis: Dense,
    /// The current coefficients, padded for the kernel.
    coefficients: Vec<f32>,
    block: Vec<f32>,
    /// The second half of the previous inverse block, waiting for its overlap.
    tail: Vec<f32>,
    current: Finished,
}

/// sqrt(2/N) w[n] cos(pi/N (n + 1/2 + N/2)(k + 1/2)), the sine window included.
fn basis(n: usize, k: usize, sample: usize) -> f64 {
    let nf = n as f64;
    let window = (std::f64::consts::PI * (sample as f64 + 0.5) / (2.0 * nf)).sin();
    let phase = std::f64::consts::PI / nf * (sample as f64 + 0.5 + nf / 2.0) * (k as f64 + 0.5);
    (2.0 / nf).sqrt() * window * phase.cos()
}

impl Mdct {
    pub fn new(n: usize) -> Mdct {
        let forward: Vec<f32> =
            (0..n).flat_map(|k| (0..2 * n).map(move |s| basis(n, k, s) as f32)).collect();
        let inverse: Vec<f32> =
            (0..2 * n).flat_map(|s| (0..n).map(move |k| basis(n, k, s) as f32)).collect();
        Mdct {
            n,
            isa: Isa::detect(),
            analysis: Dense::new(n, 2 * n, &forward, &vec![0.0; n]),
            synthesis: Dense::new(2 * n, n, &inverse, &vec![0.0; 2 * n]),
            coefficients: pad_vec(n),
            block: vec![0.0; 2 * n],
            tail: vec![0.0; n],
            current: Finished::new(n),
        }
    }
}

impl FrameCodec for Mdct {
    /// Frames 0..=ceil(L/N): the signal with N zeros before it and zeros after, so that
    /// every sample is covered by two blocks and comes back whole from synthesis.
    fn analyse(&self, signal: &[f32]) -> Vec<f32> {
        let n = self.n;
        let frames = signal.len().div_ceil(n) + 1;
        let mut padded = vec![0.0; (frames + 1) * n];
        padded[n..n + signal.len()].copy_from_slice(signal);
        let mut block = pad_vec(2 * n);
        let mut out = vec![0.0; frames * n];
        for (t, frame) in out.chunks_exact_mut(n).enumerate() {
            block[..2 * n].copy_from_slice(&padded[t * n..t * n + 2 * n]);
            self.analysis.forward(self.isa, &block, frame);
        }
        out
    }

    fn start_frame(&mut self, frame: &[f32]) {
        let n = self.n;
        self.coefficients[..n].copy_from_slice(&frame[..n]);
        self.synthesis.forward(self.isa, &self.coefficients, &mut self.block);
        for ((o, b), t) in self.current.samples.iter_mut().zip(&self.block[..n]).zip(&self.tail) {
            *o = b + t;
        }
        self.current.pos = 0;
        self.tail.copy_from_slice(&self.block[n..]);
    }

    fn render(&mut self, out: &mut [f32]) {
        self.current.render(out);
    }

    fn reset(&mut self, _seed: u64) {
        self.tail.fill(0.0);
    }

    fn latency_frames(&self) -> usize {
        1
    }
}

/// Frame k from hops k - 1 and k: the block offline analysis reads for it.
pub struct LiveMdct {
    mdct: Mdct,
    block: Vec<f32>,
}

impl LiveMdct {
    pub fn new(n: usize) -> LiveMdct {
        LiveMdct { mdct: Mdct::new(n), block: pad_vec(2 * n) }
    }
}

impl LiveAnalyser for LiveMdct {
    fn push(&mut self, hop: &[f32], frame: &mut [f32]) {
        let n = self.mdct.n;
        self.block.copy_within(n..2 * n, 0);
        self.block[n..2 * n].copy_from_slice(hop);
        self.mdct.analysis.forward(self.mdct.isa, &self.block, frame);
    }

    fn lookahead(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.block.fill(0.0);
    }
}
