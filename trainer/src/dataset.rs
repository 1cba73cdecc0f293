//! The training data: recordings turned into frames of the model's domain, a validation
//! range held out per file, normalised with the training parts' statistics (one global
//! mean and std for the waveform; one scale per coefficient for spectral domains; a mean
//! and std per parameter for the hnm domain), random windows for training and fixed ones
//! for validation.

use std::path::PathBuf;

use anyhow::Result;
use vrnn_core::{domain, Domain, ModelConfig, Normalisation, Rng};

use crate::audio;

/// Per-coefficient scales never fall below this fraction of the overall RMS (-40 dB), so
/// that bins the training audio barely uses cannot turn another recording's content there
/// into huge normalised values.
pub const SCALE_FLOOR: f32 = 0.01;

/// The smallest std of an hnm parameter (natural-log units, about 2 dB of amplitude): an
/// envelope band the training audio leaves at the floor must not make another recording's
/// content there huge.
pub const PARAMETER_STD_FLOOR: f32 = 0.25;

pub struct Dataset {
    pub files: Vec<PathBuf>,
    pub norm: Normalisation,
    /// Normalised training frames, frame-major, one run per part (a file may contribute
    /// two: the parts before and after its validation range).
    pub train: Vec<Vec<f32>>,
    /// Normalised validation frames, one run per file.
    pub val: Vec<Vec<f32>>,
    /// The validation ranges as waveforms (for scoring them with `eval`).
    pub val_audio: Vec<Vec<f32>>,
    /// Seconds of audio loaded in all (training and validation).
    pub seconds: f64,
    /// Values per training window: sequence length x frame dimension.
    pub window: usize,
    /// Values between two possible window starts: any sample for the time domain, whole
    /// frames for spectral domains (their frames have a fixed alignment).
    pub stride: usize,
}

impl Dataset {
    /// Loads every file at the model's rate, holds out `val_split` of each (at least one
    /// window) at a position drawn from `seed`, turns the parts into frames of the
    /// model's domain and normalises them with the training parts' statistics.
    pub fn load(
        files: &[PathBuf],
        config: &ModelConfig,
        seq_len: usize,
        val_split: f64,
        seed: u64,
    ) -> Result<Dataset> {
        let (rate, frame) = (config.sample_rate, config.frame_dim());
        let window = seq_len * frame;
        let samples_per_window = seq_len * config.frame_size;
        let min_seconds = 2.0 * seq_len as f64 * config.frame_seconds();
        let mut rng = Rng::new(seed ^ 0x5EED_DA7A);
        let (mut train_audio, mut val_audio) = (Vec::new(), Vec::new());
        let mut samples = 0;
        for path in files {
            let recording = audio::load_recording(path, rate, min_seconds)?;
            if recording.clipped > audio::CLIPPED_WARNING {
                eprintln!(
                    "warning: {}: {:.1} % of its samples sit flat at its peak: the recording clips, and a model learns the distortion (record it at a lower level)",
                    path.display(),
                    100.0 * recording.clipped
                );
            }
            let x = recording.samples;
            samples += x.len();
            let val_len = ((x.len() as f64 * val_split) as usize)
                .clamp(samples_per_window, x.len() - samples_per_window);
            let start = (rng.next_u64() % (x.len() - val_len + 1) as u64) as usize;
            val_audio.push(x[start..start + val_len].to_vec());
            for part in [&x[..start], &x[start + val_len..]] {
                if part.len() >= samples_per_window {
                    train_audio.push(part.to_vec());
                }
            }
            if train_audio.is_empty() {
                // The held-out range split the file into two short parts: train on the longer.
                let longer = if start >= x.len() - start - val_len {
                    &x[..start]
                } else {
                    &x[start + val_len..]
                };
                train_audio.push(longer.to_vec());
            }
        }
        let codec = domain::codec(config);
        let mut train: Vec<Vec<f32>> = train_audio.iter().map(|p| codec.analyse(p)).collect();
        let mut val: Vec<Vec<f32>> = val_audio.iter().map(|p| codec.analyse(p)).collect();
        let norm = match config.domain {
            Domain::Time => waveform_statistics(&train),
            Domain::Mdct => coefficient_statistics(&train, frame),
            Domain::Hnm => parameter_statistics(&train, frame),
        };
        let (frame_std, frame_mean) = (norm.frame_std(frame), norm.frame_mean(frame));
        for part in train.iter_mut().chain(val.iter_mut()) {
            for f in part.chunks_exact_mut(frame) {
                for ((v, s), m) in f.iter_mut().zip(&frame_std).zip(&frame_mean) {
                    *v = (*v - m) / s;
                }
            }
        }
        let stride = match config.domain {
            Domain::Time => 1,
            Domain::Mdct | Domain::Hnm => frame,
        };
        let seconds = samples as f64 / rate as f64;
        Ok(Dataset { files: files.to_vec(), norm, train, val, val_audio, seconds, window, stride })
    }

    /// Values in the training parts (samples for the time domain).
    pub fn train_values(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }

    /// A batch of random training windows, `[batch, window]` row-major, drawn from `rng`.
    /// Parts shorter than a window are padded with silence.
    pub fn train_batch(&self, batch: usize, rng: &mut Rng) -> Vec<f32> {
        let total = self.train_values() as u64;
        let mut out = vec![0.0; batch * self.window];
        for row in out.chunks_exact_mut(self.window) {
            // Files are drawn in proportion to their length.
            let mut pick = rng.next_u64() % total;
            let part = self
                .train
                .iter()
                .find(|p| {
                    let hit = pick < p.len() as u64;
                    pick = pick.saturating_sub(p.len() as u64);
                    hit
                })
                .unwrap_or(&self.train[0]);
            let span = (part.len().saturating_sub(self.window) / self.stride) as u64 + 1;
            let start = (rng.next_u64() % span) as usize * self.stride;
            let n = self.window.min(part.len() - start);
            row[..n].copy_from_slice(&part[start..start + n]);
        }
        out
    }

    /// Non-overlapping validation windows from every file, at most `max` in all.
    pub fn val_windows(&self, max: usize) -> Vec<f32> {
        let mut all: Vec<&[f32]> =
            self.val.iter().flat_map(|v| v.chunks_exact(self.window)).collect();
        let stride = all.len().div_ceil(max.max(1)).max(1);
        all = all.into_iter().step_by(stride).collect();
        all.concat()
    }
}

/// Mean and std over all samples (f64 accumulation).
fn waveform_statistics(parts: &[Vec<f32>]) -> Normalisation {
    let n: usize = parts.iter().map(Vec::len).sum();
    let mean = parts.iter().flatten().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = parts.iter().flatten().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    Normalisation::global(mean as f32, (var.sqrt() as f32).max(audio::SILENCE))
}

/// Each parameter's own mean and std (the std floored), over every training frame.
fn parameter_statistics(parts: &[Vec<f32>], frame: usize) -> Normalisation {
    let (mut sum, mut squares) = (vec![0.0f64; frame], vec![0.0f64; frame]);
    let mut frames = 0usize;
    for f in parts.iter().flat_map(|p| p.chunks_exact(frame)) {
        for ((s, q), v) in sum.iter_mut().zip(squares.iter_mut()).zip(f) {
            *s += *v as f64;
            *q += *v as f64 * *v as f64;
        }
        frames += 1;
    }
    let frames = frames.max(1) as f64;
    let centre: Vec<f32> = sum.iter().map(|s| (s / frames) as f32).collect();
    let scale = sum
        .iter()
        .zip(&squares)
        .map(|(s, q)| {
            let mean = s / frames;
            (((q / frames - mean * mean).max(0.0)).sqrt() as f32).max(PARAMETER_STD_FLOOR)
        })
        .collect();
    Normalisation { mean: 0.0, std: 1.0, scale, centre }
}

/// Coefficients are zero-mean by construction (an orthogonal transform of audio): the
/// overall RMS as std, and each coefficient's RMS relative to it as its scale, floored.
fn coefficient_statistics(parts: &[Vec<f32>], frame: usize) -> Normalisation {
    let mut power = vec![0.0f64; frame];
    let mut frames = 0usize;
    for f in parts.iter().flat_map(|p| p.chunks_exact(frame)) {
        power.iter_mut().zip(f).for_each(|(p, v)| *p += *v as f64 * *v as f64);
        frames += 1;
    }
    let frames = frames.max(1) as f64;
    let overall = (power.iter().sum::<f64>() / (frames * frame as f64)).sqrt() as f32;
    let std = overall.max(audio::SILENCE);
    let scale = power.iter().map(|p| ((p / frames).sqrt() as f32 / std).max(SCALE_FLOOR)).collect();
    Normalisation { mean: 0.0, std, scale, centre: Vec::new() }
}
