//! Shared by the trainer's tests: paths to the shared recordings and WAV writers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vrnn_trainer::fit::FitOptions;
use vrnn_trainer::presets::Preset;

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(rel)
}

pub fn arctic() -> PathBuf {
    data("arctic/arctic_a0009.wav")
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vrnn-trainer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Options for a quick tiny-model run on the arctic utterance.
pub fn tiny_fit(output: PathBuf, steps: u64) -> FitOptions {
    let mut o = FitOptions::with_defaults(vec![arctic()]);
    o.output = Some(output);
    o.preset = Preset::Tiny;
    o.steps = Some(steps);
    o.device = "cpu".into();
    o.seed = 3;
    o.lr = 3e-3;
    o.batch = 8;
    // The MDCT domain on 0.5 s sequences: a 3 s recording leaves a held-out range.
    o.domain = vrnn_core::Domain::Mdct;
    o.seq_len = 40;
    o.checkpoint_every = 10;
    o.val_every = 1000;
    o.quiet = true;
    o
}

/// `seconds` of one training voice (from 5 s into slt_flite_16k.wav), as a WAV in `dir`:
/// enough speech for a held-out range that resembles the rest.
pub fn voice_clip(dir: &Path, seconds: f64) -> PathBuf {
    let voice =
        vrnn_trainer::audio::load_mono(&data("voice/slt_flite_16k.wav"), 16_000, 0.0).unwrap();
    let path = dir.join("slt_clip.wav");
    write_float_wav(&path, 16_000, 1, &voice[80_000..80_000 + (seconds * 16_000.0) as usize]);
    path
}

pub fn write_float_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    samples.iter().for_each(|s| w.write_sample(*s).unwrap());
    w.finalize().unwrap();
}

pub fn write_int_wav(path: &Path, rate: u32, channels: u16, bits: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let scale = ((1i64 << (bits - 1)) - 1) as f32;
    for s in samples {
        let v = (s * scale) as i32;
        if bits == 8 {
            w.write_sample(v as i8).unwrap()
        } else {
            w.write_sample(v).unwrap()
        }
    }
    w.finalize().unwrap();
}

/// A voiced-sounding test signal: a 150 Hz pulse-ish tone with harmonics.
pub fn tone(rate: u32, seconds: f64) -> Vec<f32> {
    (0..(rate as f64 * seconds) as usize)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (1..6)
                .map(|k| (std::f32::consts::TAU * 150.0 * k as f32 * t).sin() / k as f32)
                .sum::<f32>()
                * 0.2
        })
        .collect()
}
