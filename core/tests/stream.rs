//! The host-rate engine: block-size invariance, host rates, and the resampler's quality
//! measured on a model whose output is a known sine.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{random_model, small_config};
use vrnn_core::names::tensor_specs;
use vrnn_core::{Cell, Latent, Model, ModelFile, Output, Rng, Stream};

fn model() -> Arc<Model> {
    let config = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    Arc::new(Model::from_file(&random_model(&config, 11)))
}

fn render(
    model: &Arc<Model>,
    rate: f64,
    total: usize,
    mut block: impl FnMut() -> usize,
) -> Vec<f32> {
    let mut stream = Stream::new(model.clone(), rate, 5).unwrap();
    let mut out = vec![0.0; total];
    let mut pos = 0;
    while pos < total {
        let n = block().clamp(1, total - pos);
        stream.process(&mut out[pos..pos + n]);
        pos += n;
    }
    out
}

#[test]
fn output_is_identical_whatever_the_block_sizes() {
    let m = model();
    let total = 48_000;
    let reference = render(&m, 48_000.0, total, || 8192);
    assert!(reference.iter().all(|v| v.is_finite()));
    assert!(reference.iter().any(|v| v.abs() > 1e-3), "not silent");
    for size in [1, 64, 512] {
        assert_eq!(render(&m, 48_000.0, total, || size), reference, "block size {size}");
    }
    let mut rng = Rng::new(3);
    let random = render(&m, 48_000.0, total, || 1 + (rng.next_u64() % 8192) as usize);
    assert_eq!(random, reference, "random block sizes");
}

#[test]
fn every_host_rate_in_range_works_and_others_are_refused() {
    let m = model();
    for rate in [8_000.0, 16_000.0, 22_050.0, 44_100.0, 96_000.0, 192_000.0] {
        let out = render(&m, rate, 4_000, || 333);
        assert!(out.iter().all(|v| v.is_finite()), "{rate} Hz");
    }
    for rate in [7_999.0, 200_000.0, f64::NAN] {
        let e = Stream::new(m.clone(), rate, 0).err().expect("refused").to_string();
        assert!(e.contains("outside"), "{e}");
    }
}

#[test]
fn reset_replays_the_same_audio() {
    let m = model();
    let mut s = Stream::new(m, 44_100.0, 9).unwrap();
    let mut a = vec![0.0; 5000];
    s.process(&mut a);
    s.set_pitch(1.5);
    s.process(&mut vec![0.0; 777]);
    s.reset(9);
    let mut b = vec![0.0; 5000];
    s.process(&mut b);
    assert_eq!(a, b);
}

/// A model whose output mean is a steady 800 Hz sine (ten periods per 200-sample frame) and
/// whose every other weight is zero: what comes out of the Stream is the resampler's work.
fn sine_model() -> Arc<Model> {
    let config = vrnn_core::ModelConfig {
        normalisation: vrnn_core::Normalisation { mean: 0.0, std: 1.0 },
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
fn a_sine_keeps_its_frequency_and_images_stay_below_minus_60_db() {
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
        assert!(worst < -60.0, "{rate} Hz: strongest image or alias at {worst:.1} dB");
    }
}
