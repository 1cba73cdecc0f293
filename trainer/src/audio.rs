//! Reading recordings: every WAV that hound reads, mixed to mono and resampled to the model
//! rate, with errors that name the file and the reason.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

/// Peak below which a recording counts as silence (-100 dBFS).
pub const SILENCE: f32 = 1e-5;

/// Expands folders into the WAV files they hold (sorted), keeps files as they are.
pub fn collect_wavs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("{}: cannot read folder", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
                .collect();
            if found.is_empty() {
                bail!("{}: folder holds no .wav file", input.display());
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    if out.is_empty() {
        bail!("no input recordings given");
    }
    Ok(out)
}

/// Reads a WAV as mono f32 at `rate` Hz. `min_seconds` is the shortest recording accepted.
pub fn load_mono(path: &Path, rate: u32, min_seconds: f64) -> Result<Vec<f32>> {
    let name = path.display();
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("{name}: cannot read as a WAV file"))?;
    let spec = reader.spec();
    let channels = spec.channels as usize;
    if channels == 0 || spec.sample_rate == 0 {
        bail!("{name}: invalid WAV header ({} channels at {} Hz)", channels, spec.sample_rate);
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("{name}: truncated or corrupt sample data"))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .with_context(|| format!("{name}: truncated or corrupt sample data"))?
        }
    };
    if interleaved.is_empty() {
        bail!("{name}: the recording is empty");
    }
    if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
        bail!("{name}: sample {} (channel {}) is not finite", i / channels, i % channels);
    }
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let seconds = mono.len() as f64 / spec.sample_rate as f64;
    if seconds < min_seconds {
        bail!(
            "{name}: {seconds:.2} s is too short; at least {min_seconds:.2} s of audio is needed"
        );
    }
    if mono.iter().all(|v| v.abs() < SILENCE) {
        bail!("{name}: the recording is silent (peak below -100 dBFS)");
    }
    if spec.sample_rate == rate {
        return Ok(mono);
    }
    resample(&mono, spec.sample_rate, rate).with_context(|| format!("{name}: resampling failed"))
}

/// Band-limited resampling of a whole clip.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let params = SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: None,
        oversampling_factor: 256,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let ratio = to as f64 / from as f64;
    let mut r = Async::<f32>::new_sinc(ratio, 1.0, &params, 4096, 1, FixedAsync::Input)?;
    let input = SequentialSlice::new(x, 1, x.len())?;
    let out = r.process_all(&input, x.len(), None)?;
    Ok(out.take_data())
}
