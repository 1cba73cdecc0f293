//! The training data: recordings normalised by one global mean and std, a validation range
//! held out per file, random windows for training and fixed ones for validation.

use std::path::PathBuf;

use anyhow::Result;
use vrnn_core::{Normalisation, Rng};

use crate::audio;

pub struct Dataset {
    pub files: Vec<PathBuf>,
    pub norm: Normalisation,
    /// Normalised training parts, one per file (a file may contribute two segments: the
    /// parts before and after its validation range).
    pub train: Vec<Vec<f32>>,
    /// Normalised validation ranges, one per file.
    pub val: Vec<Vec<f32>>,
    /// Samples per training window: sequence length x frame size.
    pub window: usize,
}

impl Dataset {
    /// Loads every file at `rate`, holds out `val_split` of each (at least one window) at a
    /// position drawn from `seed`, and normalises with the training parts' statistics.
    pub fn load(
        files: &[PathBuf],
        rate: u32,
        window: usize,
        val_split: f64,
        seed: u64,
    ) -> Result<Dataset> {
        let min_seconds = 2.0 * window as f64 / rate as f64;
        let mut rng = Rng::new(seed ^ 0x5EED_DA7A);
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for path in files {
            let x = audio::load_mono(path, rate, min_seconds)?;
            let val_len = ((x.len() as f64 * val_split) as usize).clamp(window, x.len() - window);
            let start = (rng.next_u64() % (x.len() - val_len + 1) as u64) as usize;
            val.push(x[start..start + val_len].to_vec());
            for part in [&x[..start], &x[start + val_len..]] {
                if part.len() >= window {
                    train.push(part.to_vec());
                }
            }
            if train.is_empty() {
                // The held-out range split the file into two short parts: train on the longer.
                let longer = if start >= x.len() - start - val_len {
                    &x[..start]
                } else {
                    &x[start + val_len..]
                };
                train.push(longer.to_vec());
            }
        }
        let norm = statistics(&train);
        for part in train.iter_mut().chain(val.iter_mut()) {
            part.iter_mut().for_each(|v| *v = (*v - norm.mean) / norm.std);
        }
        Ok(Dataset { files: files.to_vec(), norm, train, val, window })
    }

    pub fn train_samples(&self) -> usize {
        self.train.iter().map(Vec::len).sum()
    }

    /// A batch of random training windows, `[batch, window]` row-major, drawn from `rng`.
    /// Parts shorter than a window are padded with silence.
    pub fn train_batch(&self, batch: usize, rng: &mut Rng) -> Vec<f32> {
        let total = self.train_samples() as u64;
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
            let span = part.len().saturating_sub(self.window) as u64 + 1;
            let start = (rng.next_u64() % span) as usize;
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
fn statistics(parts: &[Vec<f32>]) -> Normalisation {
    let n: usize = parts.iter().map(Vec::len).sum();
    let mean = parts.iter().flatten().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = parts.iter().flatten().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    Normalisation { mean: mean as f32, std: (var.sqrt() as f32).max(audio::SILENCE) }
}
