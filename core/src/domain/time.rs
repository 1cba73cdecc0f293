//! The paper's domain: a frame is `frame_size` consecutive waveform samples.

use super::{Finished, FrameCodec, LiveAnalyser};

pub struct Time {
    current: Finished,
}

impl Time {
    pub fn new(frame: usize) -> Time {
        Time { current: Finished::new(frame) }
    }
}

impl FrameCodec for Time {
    /// The whole frames of `signal` (a last partial frame is dropped).
    fn analyse(&self, signal: &[f32]) -> Vec<f32> {
        let frame = self.current.samples.len();
        signal[..signal.len() / frame * frame].to_vec()
    }

    fn start_frame(&mut self, frame: &[f32]) {
        let n = self.current.samples.len();
        self.current.samples.copy_from_slice(&frame[..n]);
        self.current.pos = 0;
    }

    fn render(&mut self, out: &mut [f32]) {
        self.current.render(out);
    }

    fn reset(&mut self, _seed: u64) {}

    fn latency_frames(&self) -> usize {
        0
    }
}

/// A frame is its hop of samples.
pub struct LiveTime;

impl LiveAnalyser for LiveTime {
    fn push(&mut self, hop: &[f32], frame: &mut [f32]) {
        frame.copy_from_slice(hop);
    }

    fn lookahead(&self) -> usize {
        0
    }

    fn reset(&mut self) {}
}
