//! Live input: host-rate samples in, the model's frames out. The input is cleaned (nothing
//! non-finite, denormal or beyond +-4 gets through), resampled to the model's rate, rid of
//! any DC offset (as the trainer's recordings are), cut into hops and analysed in the
//! model's domain (`domain::LiveAnalyser`); each frame is kept with the host sample at
//! which it was complete and whether the input gate was open, so that a Stream that follows
//! the input picks the same frame at the same moment however the host slices its blocks. Allocation-free after construction.

use rubato::{Async, FixedAsync, Resampler};

use crate::config::ModelConfig;
use crate::dc::DcBlocker;
use crate::domain::{self, LiveAnalyser};
use crate::stream::{resample_chunk, sinc_parameters, StreamError, MAX_HOST_RATE, MIN_HOST_RATE};

/// Host samples the resampler takes per call.
const INPUT_CHUNK: usize = 32;
/// Frames kept: every frame completed between a block's `push` and the stream calls that
/// read it must still be here (a block of MAX_BLOCK host samples makes at most
/// 4096 / 200 * 6 = 123 frames, at 8 kHz into a 48 kHz model).
const RING: usize = 128;
/// The longest block to push before its output is made; longer host blocks go in pieces
/// of this (push a piece, make its output, then the next).
pub const MAX_BLOCK: usize = 4096;
/// Frames the gate stays open after the input falls below its threshold (so that the
/// gaps between words do not cut the following on and off).
const GATE_HOLD: u32 = 8;
/// Default gate threshold: -50 dBFS RMS per hop.
pub const DEFAULT_GATE_DB: f32 = -50.0;

/// One analysed frame and when it was complete.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Host samples pushed when the frame was complete.
    at: u64,
    /// Whether the gate was open for it.
    open: bool,
}

pub struct Listener {
    resampler: Async<f32>,
    /// Host samples waiting for the resampler.
    chunk: Vec<f32>,
    chunk_len: usize,
    resampled: Vec<f32>,
    dc: DcBlocker,
    /// Model-rate samples of the hop being filled.
    hop: Vec<f32>,
    hop_len: usize,
    analyser: Box<dyn LiveAnalyser>,
    dim: usize,
    /// RING frames, frame-major, and their entries; `count` frames made so far.
    frames: Vec<f32>,
    entries: [Entry; RING],
    count: u64,
    pushed: u64,
    /// Linear RMS threshold of the gate, and frames left of its hold.
    gate: f32,
    hold: u32,
    /// host rate / model rate.
    ratio: f64,
}

impl Listener {
    pub fn new(config: &ModelConfig, host_rate: f64) -> Result<Listener, StreamError> {
        if !(MIN_HOST_RATE..=MAX_HOST_RATE).contains(&host_rate) {
            return Err(StreamError::HostRate(host_rate));
        }
        let ratio = host_rate / config.sample_rate as f64;
        let resampler = Async::<f32>::new_sinc(
            1.0 / ratio,
            1.0,
            &sinc_parameters(),
            INPUT_CHUNK,
            1,
            FixedAsync::Input,
        )
        .map_err(|e| StreamError::Resampler(e.to_string()))?;
        let dim = config.frame_dim();
        let mut l = Listener {
            resampled: vec![0.0; resampler.output_frames_max()],
            resampler,
            dc: DcBlocker::new(config.sample_rate),
            chunk: vec![0.0; INPUT_CHUNK],
            chunk_len: 0,
            hop: vec![0.0; config.frame_size],
            hop_len: 0,
            analyser: domain::live_analyser(config),
            dim,
            frames: vec![0.0; RING * dim],
            entries: [Entry { at: 0, open: false }; RING],
            count: 0,
            pushed: 0,
            gate: 0.0,
            hold: 0,
            ratio,
        };
        l.set_gate_db(DEFAULT_GATE_DB);
        Ok(l)
    }

    /// The input gate: below `db` dBFS (RMS over a hop, held GATE_HOLD frames) the input
    /// counts as silent, and a following voice improvises.
    pub fn set_gate_db(&mut self, db: f32) {
        self.gate = 10f32.powf(db / 20.0);
    }

    /// Forgets the input so far (a new take).
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.chunk_len = 0;
        self.dc.reset();
        self.hop_len = 0;
        self.analyser.reset();
        self.count = 0;
        self.pushed = 0;
        self.hold = 0;
    }

    /// Host samples pushed since construction or the last reset.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Host samples from an input sample to the frame that holds it coming out: the
    /// resampler's delay, a hop and the analysis look-ahead (at the model's rate), and on
    /// average half a resampler chunk.
    pub fn latency(&self) -> usize {
        let hops = (1 + self.analyser.lookahead()) * self.hop.len();
        let model = self.resampler.output_delay() + hops;
        (model as f64 * self.ratio).round() as usize + INPUT_CHUNK / 2
    }

    /// Takes the next host-rate input samples (a block of at most MAX_BLOCK, then its
    /// output).
    pub fn push(&mut self, input: &[f32]) {
        for &x in input {
            self.chunk[self.chunk_len] = clean(x);
            self.chunk_len += 1;
            self.pushed += 1;
            if self.chunk_len == INPUT_CHUNK {
                self.chunk_len = 0;
                self.resample();
            }
        }
    }

    /// The newest frame complete by host sample `at` (samples pushed), and whether the gate
    /// was open for it; None before the first.
    pub fn frame_at(&self, at: u64) -> Option<(&[f32], bool)> {
        (0..self.count.min(RING as u64)).map(|back| self.count - 1 - back).find_map(|k| {
            let slot = (k % RING as u64) as usize;
            let e = self.entries[slot];
            (e.at <= at).then(|| (&self.frames[slot * self.dim..(slot + 1) * self.dim], e.open))
        })
    }

    fn resample(&mut self) {
        let produced = resample_chunk(&mut self.resampler, &self.chunk, &mut self.resampled);
        for i in 0..produced {
            self.hop[self.hop_len] = self.dc.next(self.resampled[i]);
            self.hop_len += 1;
            if self.hop_len == self.hop.len() {
                self.hop_len = 0;
                self.analyse_hop();
            }
        }
    }

    fn analyse_hop(&mut self) {
        let slot = (self.count % RING as u64) as usize;
        let frame = &mut self.frames[slot * self.dim..(slot + 1) * self.dim];
        self.analyser.push(&self.hop, frame);
        let rms = (self.hop.iter().map(|v| v * v).sum::<f32>() / self.hop.len() as f32).sqrt();
        if rms >= self.gate {
            self.hold = GATE_HOLD;
        } else {
            self.hold = self.hold.saturating_sub(1);
        }
        self.entries[slot] = Entry { at: self.pushed, open: self.hold > 0 };
        self.count += 1;
    }
}

/// A sample the resampler and the analysis can take: non-finite values and denormals as
/// silence, everything within +-4 (12 dB over full scale).
fn clean(x: f32) -> f32 {
    if x.is_finite() && x.abs() >= f32::MIN_POSITIVE {
        x.clamp(-4.0, 4.0)
    } else {
        0.0
    }
}
