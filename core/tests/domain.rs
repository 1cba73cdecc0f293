//! Frame domains: the MDCT is an orthogonal lapped transform (perfect reconstruction,
//! energy and inner products preserved), and a Stream plays an MDCT model's frames through
//! it, one frame later than a time-domain model would.

mod common;

use std::sync::Arc;

use common::{random_model, small_config};
use vrnn_core::domain::{FrameCodec, Mdct, Time};
use vrnn_core::{
    Cell, Domain, Generator, Latent, Model, ModelConfig, Output, Rng, Schedule, Stream,
};

fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.gaussian() * 0.3).collect()
}

/// Synthesises `frames` one at a time, as the Stream does.
fn synthesise(codec: &mut dyn FrameCodec, frames: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; frames.len()];
    for (f, o) in frames.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        codec.synthesise(f, o);
    }
    out
}

#[test]
fn mdct_reconstructs_perfectly_one_frame_later() {
    for (n, len) in [(200, 8000), (200, 8123), (40, 997), (64, 64)] {
        let x = noise(len, n as u64);
        let mut mdct = Mdct::new(n);
        let frames = mdct.analyse(&x);
        assert_eq!(frames.len(), (len.div_ceil(n) + 1) * n);
        let y = synthesise(&mut mdct, &frames, n);
        assert!(y[..n].iter().all(|v| v.abs() < 1e-5), "the first frame is the latency");
        for (i, (a, b)) in x.iter().zip(&y[n..]).enumerate() {
            assert!((a - b).abs() < 2e-5, "N={n}, sample {i}: {a} came back as {b}");
        }
        assert!(y[n + len..].iter().all(|v| v.abs() < 2e-5), "nothing after the end");
    }
}

#[test]
fn mdct_is_orthogonal() {
    // An orthogonal map keeps norms and inner products: log|det| = 0, so likelihoods of
    // coefficients are likelihoods of the waveform.
    let n = 200;
    let mdct = Mdct::new(n);
    let (x, y) = (noise(6000, 1), noise(6000, 2));
    let (cx, cy) = (mdct.analyse(&x), mdct.analyse(&y));
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
    let (ex, ecx): (f64, f64) = (dot(&x, &x), dot(&cx, &cx));
    assert!((ex - ecx).abs() < 1e-5 * ex, "energy {ex} became {ecx}");
    let (xy, cxy): (f64, f64) = (dot(&x, &y), dot(&cx, &cy));
    assert!((xy - cxy).abs() < 1e-5 * ex, "inner product {xy} became {cxy}");
    // A single sample's coefficients have unit norm wherever it is.
    for pos in [0, 1, 99, 100, 199, 200, 4321] {
        let mut impulse = vec![0.0; 6000];
        impulse[pos] = 1.0;
        let c = mdct.analyse(&impulse);
        let e: f64 = dot(&c, &c);
        assert!((e - 1.0).abs() < 1e-5, "impulse at {pos}: energy {e}");
    }
}

#[test]
fn time_domain_is_the_identity() {
    let x = noise(1010, 3);
    let mut time = Time::new(100);
    let frames = time.analyse(&x);
    assert_eq!(frames, x[..1000]);
    assert_eq!(synthesise(&mut time, &frames, 100), x[..1000]);
    assert_eq!(time.latency_frames(), 0);
}

pub fn mdct_config() -> ModelConfig {
    let mut c = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    c.domain = Domain::Mdct;
    c.normalisation.std = 0.05;
    c.normalisation.scale = (0..c.frame_size).map(|i| 1.0 / (1.0 + i as f32 * 0.1)).collect();
    c
}

#[test]
fn an_mdct_model_streams_its_frames_through_the_inverse_transform() {
    let config = mdct_config();
    let model = Arc::new(Model::from_file(&random_model(&config, 4)));
    let n = config.frame_size;
    // Generate the frames directly, synthesise them, and compare with what the stream plays
    // at the model's rate (the resampler at ratio 1 only delays and band-limits).
    let mut g = Generator::new(model.clone(), 7);
    let noise = Domain::Mdct.default_noise();
    let frames: Vec<f32> = (0..50).flat_map(|_| g.step(1.0, noise).to_vec()).collect();
    let expected = synthesise(&mut Mdct::new(n), &frames, n);
    let immediate = Generator::new(model.clone(), 7);
    let mut stream = Stream::with_schedule(immediate, 16_000.0, Schedule::Immediate).unwrap();
    let time_latency = {
        let mut c = config.clone();
        c.domain = Domain::Time;
        c.normalisation.scale.clear();
        let m = Arc::new(Model::from_file(&random_model(&c, 4)));
        Stream::with_schedule(Generator::new(m, 7), 16_000.0, Schedule::Immediate)
            .unwrap()
            .latency()
    };
    assert_eq!(stream.latency(), time_latency + n, "one frame for the overlap-add");
    let mut out = vec![0.0; 40 * n];
    stream.process(&mut out);
    // The resampler band-limits (the random model's output is nearly white), so compare
    // by correlation; the best delay is the resampler's own, the time-domain model's
    // latency (rubato states it to within a sample at ratio 1).
    let corr = |delay: usize| {
        let (a, b) = (&out[delay + n..], &expected[n..]);
        let len = a.len().min(b.len());
        let dot = |p: &[f32], q: &[f32]| {
            p[..len].iter().zip(&q[..len]).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>()
        };
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
    };
    let best = (0..2 * time_latency + n).max_by(|a, b| corr(*a).total_cmp(&corr(*b))).unwrap();
    assert!(best.abs_diff(time_latency) <= 1, "best delay {best}, stated {time_latency}");
    assert!(corr(best) > 0.99, "correlation with direct synthesis {}", corr(best));
}
