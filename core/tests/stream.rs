//! The host-rate engine: block-size invariance, host rates, and the resampler's quality
//! measured on a model whose output is a known sine.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{random_model, small_config};
use vrnn_core::names::tensor_specs;
use vrnn_core::{Cell, Generator, Latent, Model, ModelFile, Output, Rng, Schedule, Stream};

fn model() -> Arc<Model> {
    let config = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    Arc::new(Model::from_file(&random_model(&config, 11)))
}

/// Renders `total` samples in the blocks `block` gives (1: sample by sample), changing the
/// temperature every 1000 samples as a host's automation would.
fn render(
    model: &Arc<Model>,
    rate: f64,
    schedule: Schedule,
    total: usize,
    mut block: impl FnMut() -> usize,
) -> Vec<f32> {
    let generator = Generator::new(model.clone(), 5);
    let mut stream = Stream::with_schedule(generator, rate, schedule).unwrap();
    let mut out = vec![0.0; total];
    let mut pos = 0;
    while pos < total {
        if pos % 1000 == 0 {
            stream.set_temperature(0.5 + (pos / 1000 % 3) as f32 * 0.5);
        }
        let n = block().clamp(1, (total - pos).min(1000 - pos % 1000));
        if n == 1 {
            out[pos] = stream.next_sample();
        } else {
            stream.process(&mut out[pos..pos + n]);
        }
        pos += n;
    }
    out
}

/// The same architecture in the MDCT domain, with per-coefficient scales.
fn mdct_model() -> Arc<Model> {
    let mut config = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    config.domain = vrnn_core::Domain::Mdct;
    config.normalisation.scale = (0..config.frame_size).map(|i| 0.5 + i as f32 * 0.02).collect();
    Arc::new(Model::from_file(&random_model(&config, 11)))
}

fn hnm_model() -> Arc<Model> {
    Arc::new(Model::from_file(&random_model(&common::hnm_config(), 12)))
}

#[test]
fn output_is_identical_whatever_the_block_sizes() {
    let total = 48_000;
    for (m, schedule) in [
        (model(), Schedule::Spread),
        (model(), Schedule::Immediate),
        (mdct_model(), Schedule::Spread),
        (hnm_model(), Schedule::Spread),
    ] {
        let reference = render(&m, 48_000.0, schedule, total, || 8192);
        assert!(reference.iter().all(|v| v.is_finite()));
        assert!(reference.iter().any(|v| v.abs() > 1e-3), "not silent");
        for size in [1, 64, 512] {
            let got = render(&m, 48_000.0, schedule, total, || size);
            assert_eq!(got, reference, "{schedule:?}, block size {size}");
        }
        let mut rng = Rng::new(3);
        let random = render(&m, 48_000.0, schedule, total, || 1 + (rng.next_u64() % 8192) as usize);
        assert_eq!(random, reference, "{schedule:?}, random block sizes");
    }
}

#[test]
fn a_spread_schedule_plays_the_same_voice_one_frame_later() {
    let m = model();
    let frame = m.config.frame_size * 48_000 / m.config.sample_rate as usize;
    let spread = Stream::new(m.clone(), 48_000.0, 5).unwrap();
    let immediate = Generator::new(m.clone(), 5);
    let mut immediate = Stream::with_schedule(immediate, 48_000.0, Schedule::Immediate).unwrap();
    assert_eq!(spread.schedule(), Schedule::Spread);
    assert_eq!(spread.latency(), immediate.latency() + frame);
    let mut spread = spread;
    let (mut a, mut b) = (vec![0.0; 24_000 + frame], vec![0.0; 24_000]);
    spread.process(&mut a);
    immediate.process(&mut b);
    let peak = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a[frame..].iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * peak, "sample {i}: {x} vs {y}");
    }
    assert!(a[..frame / 2].iter().all(|v| v.abs() <= 1e-4 * peak), "the look-ahead is silent");
}

#[test]
fn every_host_rate_in_range_works_and_others_are_refused() {
    let m = model();
    for rate in [8_000.0, 16_000.0, 22_050.0, 44_100.0, 96_000.0, 192_000.0] {
        let out = render(&m, rate, Schedule::Spread, 4_000, || 333);
        assert!(out.iter().all(|v| v.is_finite()), "{rate} Hz");
    }
    for rate in [7_999.0, 200_000.0, f64::NAN] {
        let e = Stream::new(m.clone(), rate, 0).err().expect("refused").to_string();
        assert!(e.contains("outside"), "{e}");
    }
}

#[test]
fn reset_replays_the_same_audio() {
    for m in [model(), hnm_model()] {
        let mut s = Stream::new(m, 44_100.0, 9).unwrap();
        let mut a = vec![0.0; 5000];
        s.process(&mut a);
        s.set_pitch(1.5);
        s.process(&mut vec![0.0; 777]);
        s.reset(9);
        let mut b = vec![0.0; 5000];
        s.process(&mut b);
        assert_eq!(a, b);
        s.reset(10);
        s.process(&mut b);
        assert_ne!(a, b, "another seed, another voice");
    }
}

/// A model whose output mean is a steady 800 Hz sine (ten periods per 200-sample frame) and
/// whose every other weight is zero: what comes out of the Stream is the resampler's work.
fn sine_model() -> Arc<Model> {
    let config = vrnn_core::ModelConfig {
        normalisation: vrnn_core::Normalisation::global(0.0, 1.0),
        ..small_config(Cell::Gru, Latent::None, Output::Gauss)
    };
    let config = vrnn_core::ModelConfig { frame_size: 200, ..config };
    let mut tensors: HashMap<String, Vec<f32>> = tensor_specs(&config)
        .into_iter()
        .map(|s| (s.name, vec![0.0; s.shape.iter().product()]))
        .collect();
    let sine = (0..200).map(|i| 0.5 * (std::f32::consts::TAU * i as f32 / 20.0).sin()).collect();
    tensors.insert("decoder.mu.bias".into(), sine);
    tensors.insert("decoder.sigma.bias".into(), vec![-30.0; 200]);
    Arc::new(Model::from_file(&ModelFile::new(config, tensors, "sine").unwrap()))
}

/// Power at `freq` of a Blackman-Harris windowed signal (single-bin DFT).
fn power_at(x: &[f32], rate: f64, freq: f64) -> f64 {
    let n = x.len() as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let t = i as f64 / n * std::f64::consts::TAU;
        let w = 0.35875 - 0.48829 * t.cos() + 0.14128 * (2.0 * t).cos() - 0.01168 * (3.0 * t).cos();
        let ph = std::f64::consts::TAU * freq * i as f64 / rate;
        re += *v as f64 * w * ph.cos();
        im -= *v as f64 * w * ph.sin();
    }
    re * re + im * im
}

#[test]
fn a_sine_keeps_its_frequency_and_images_stay_below_minus_100_db() {
    let m = sine_model();
    for rate in [44_100.0, 48_000.0, 96_000.0] {
        let mut s = Stream::new(m.clone(), rate, 0).unwrap();
        s.set_noise(0.0);
        let mut out = vec![0.0; 16_384 + 4_096];
        s.process(&mut out);
        let x = &out[4_096..]; // past the resampler's start-up
        let peak = power_at(x, rate, 800.0);
        for f in [790.0, 810.0] {
            assert!(power_at(x, rate, f) < peak, "{rate} Hz: 800 Hz is the peak");
        }
        let mut worst = f64::NEG_INFINITY;
        let mut f = 1_200.0;
        while f < rate / 2.0 {
            worst = worst.max(10.0 * (power_at(x, rate, f) / peak).log10());
            f += 97.0;
        }
        for image in [16_000.0 - 800.0, 16_000.0 + 800.0] {
            if image < rate / 2.0 {
                worst = worst.max(10.0 * (power_at(x, rate, image) / peak).log10());
            }
        }
        assert!(worst < -100.0, "{rate} Hz: strongest image or alias at {worst:.1} dB");
    }
}
