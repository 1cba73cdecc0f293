//! Live hnm analysis: each frame as offline analysis makes it (the same dither, windows and
//! band split), once the samples its windows read have arrived, with the pitch contour made
//! causal: a frame is voiced when most of the last three are (offline: the three around
//! it), its f0 is its own unless that is an outlier against the median of the voiced ones
//! among the last MEDIAN (offline: the centred median), and an unvoiced frame holds the
//! last voiced f0 (offline: interpolated towards the next).

use super::analysis::{Analyser, FrameBuffers, DITHER, DITHER_SEED, MEDIAN, UNVOICED_F0};
use super::pitch::Pitch;
use super::DIM;
use crate::domain::LiveAnalyser;
use crate::Rng;

/// A frame's pitch more than this far (in ln f0: about 20 %) from the recent median is an
/// outlier.
const OUTLIER: f32 = 0.18;

pub struct LiveHnm {
    analyser: Analyser,
    hop: usize,
    lookahead: usize,
    /// The last samples, dithered, the newest at the end: frame k - lookahead's windows.
    history: Vec<f32>,
    /// Where that frame's centre lies in `history`.
    centre: usize,
    rng: Rng,
    buffers: FrameBuffers,
    /// The last MEDIAN frames' pitch (newest last) and whether the contour called them voiced.
    pitch: [Pitch; MEDIAN],
    voiced: [bool; MEDIAN],
    last_f0: f32,
}

impl LiveHnm {
    pub fn new(sample_rate: u32, hop: usize) -> LiveHnm {
        let analyser = Analyser::new(sample_rate, hop);
        let reach = analyser.reach();
        let lookahead = reach.div_ceil(hop) - 1;
        let history = vec![0.0; (lookahead + 1) * hop + reach];
        let centre = history.len() - (lookahead + 1) * hop;
        let buffers = analyser.buffers();
        let silent = Pitch { f0: UNVOICED_F0, aperiodicity: 1.0, voiced: false };
        LiveHnm {
            analyser,
            hop,
            lookahead,
            history,
            centre,
            rng: Rng::new(DITHER_SEED),
            buffers,
            pitch: [silent; MEDIAN],
            voiced: [false; MEDIAN],
            last_f0: UNVOICED_F0,
        }
    }
}

impl LiveAnalyser for LiveHnm {
    fn push(&mut self, hop: &[f32], frame: &mut [f32]) {
        let n = self.history.len();
        self.history.copy_within(self.hop.., 0);
        for (h, v) in self.history[n - self.hop..].iter_mut().zip(hop) {
            *h = v + DITHER * self.rng.gaussian();
        }
        let pitch = self.analyser.pitch_at(&self.history, self.centre, &mut self.buffers);
        self.pitch.rotate_left(1);
        self.pitch[MEDIAN - 1] = pitch;
        let voiced = self.pitch[MEDIAN - 3..].iter().filter(|p| p.voiced).count() >= 2;
        self.voiced.rotate_left(1);
        self.voiced[MEDIAN - 1] = voiced;
        let f0 = if voiced {
            let mut f = [0.0f32; MEDIAN];
            let mut count = 0;
            for (p, v) in self.pitch.iter().zip(&self.voiced) {
                if *v && p.voiced {
                    f[count] = p.f0;
                    count += 1;
                }
            }
            if count == 0 {
                f[0] = pitch.f0;
                count = 1;
            }
            let f = &mut f[..count];
            f.sort_unstable_by(f32::total_cmp);
            let median = f[count / 2];
            // The frame's own pitch unless it jumps away from the recent median (an octave
            // error): a median alone would trail a glide by half its length.
            let own = pitch.voiced && (pitch.f0 / median).ln().abs() < OUTLIER;
            self.last_f0 = if own { pitch.f0 } else { median };
            (self.last_f0, Some(self.last_f0))
        } else {
            (self.last_f0, None)
        };
        let frame = &mut frame[..DIM];
        self.analyser.frame_at(&self.history, self.centre, f0, &mut self.buffers, frame);
    }

    fn lookahead(&self) -> usize {
        self.lookahead
    }

    fn reset(&mut self) {
        self.history.fill(0.0);
        self.rng = Rng::new(DITHER_SEED);
        let silent = Pitch { f0: UNVOICED_F0, aperiodicity: 1.0, voiced: false };
        self.pitch = [silent; MEDIAN];
        self.voiced = [false; MEDIAN];
        self.last_f0 = UNVOICED_F0;
    }
}
