//! The paper's domain: a frame is `frame_size` consecutive waveform samples.

use super::FrameCodec;

pub struct Time {
    frame: usize,
}

impl Time {
    pub fn new(frame: usize) -> Time {
        Time { frame }
    }
}

impl FrameCodec for Time {
    /// The whole frames of `signal` (a last partial frame is dropped).
    fn analyse(&self, signal: &[f32]) -> Vec<f32> {
        signal[..signal.len() / self.frame * self.frame].to_vec()
    }

    fn synthesise(&mut self, frame: &[f32], out: &mut [f32]) {
        out.copy_from_slice(&frame[..out.len()]);
    }

    fn reset(&mut self, _seed: u64) {}

    fn latency_frames(&self) -> usize {
        0
    }
}
