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

/// Synthesises `frames` rendering each hop in uneven pieces (a stream cuts a frame wherever
/// its resampler's chunks and the host's blocks fall).
fn synthesise_in_pieces(
    codec: &mut dyn FrameCodec,
    frames: &[f32],
    dim: usize,
    hop: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; frames.len() / dim * hop];
    let pieces = [1, 7, 32, 3, 50, 13];
    let mut next = 0;
    for (f, o) in frames.chunks_exact(dim).zip(out.chunks_exact_mut(hop)) {
        codec.start_frame(f);
        let mut done = 0;
        while done < hop {
            let n = pieces[next % pieces.len()].min(hop - done);
            codec.render(&mut o[done..done + n]);
            (done, next) = (done + n, next + 1);
        }
    }
    out
}

#[test]
fn synthesis_cut_anywhere_gives_the_same_samples() {
    use vrnn_core::domain::hnm::{self, Hnm};
    let n = 200;
    // hnm frames that glide in f0 and move their envelopes, so phases and amplitudes change.
    let hnm_frames: Vec<f32> = (0..30)
        .flat_map(|t| {
            let mut f = vec![0.0f32; hnm::DIM];
            f[hnm::F0] = (120.0 + 7.0 * t as f32).ln();
            for (j, v) in f[hnm::HARMONIC..].iter_mut().enumerate() {
                *v = -3.0 - 0.1 * j as f32 - 0.05 * ((t * j) % 7) as f32;
            }
            f
        })
        .collect();
    let spectral = noise(30 * n, 3);
    same_however_cut([Box::new(Time::new(n)), Box::new(Time::new(n))], &spectral, n, n);
    same_however_cut([Box::new(Mdct::new(n)), Box::new(Mdct::new(n))], &spectral, n, n);
    let hnm = || Box::new(Hnm::new(16_000, n));
    same_however_cut([hnm(), hnm()], &hnm_frames, hnm::DIM, n);
}

/// Two codecs of one kind: frames synthesised whole by one and in pieces by the other.
fn same_however_cut(codecs: [Box<dyn FrameCodec>; 2], frames: &[f32], dim: usize, hop: usize) {
    let [mut whole, mut cut] = codecs;
    whole.reset(9);
    cut.reset(9);
    let mut expected = vec![0.0; frames.len() / dim * hop];
    for (f, o) in frames.chunks_exact(dim).zip(expected.chunks_exact_mut(hop)) {
        whole.synthesise(f, o);
    }
    assert!(expected.iter().any(|v| *v != 0.0));
    let got = synthesise_in_pieces(cut.as_mut(), frames, dim, hop);
    assert!(expected.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()));
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

mod hnm {
    use vrnn_core::domain::hnm::{self, Hnm};
    use vrnn_core::domain::FrameCodec;

    const RATE: u32 = 16_000;
    const HOP: usize = 200;

    /// A frame with f0, and both envelopes flat at the power densities given (0: none).
    fn flat_frame(f0: f32, harmonic: f32, noise: f32) -> Vec<f32> {
        let mut f = vec![0.0; hnm::DIM];
        f[hnm::F0] = f0.ln();
        let value = |s: f32| 0.5 * (s + hnm::FLOOR).ln();
        f[hnm::HARMONIC..hnm::NOISE].fill(value(harmonic));
        f[hnm::NOISE..].fill(value(noise));
        f
    }

    fn play(codec: &mut Hnm, frame: &[f32], frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * HOP];
        for o in out.chunks_exact_mut(HOP) {
            codec.synthesise(frame, o);
        }
        out
    }

    fn variance(x: &[f32]) -> f64 {
        x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64
    }

    /// Normalised autocorrelation at `lag`.
    fn periodicity(x: &[f32], lag: usize) -> f64 {
        let dot: f64 = x.iter().zip(&x[lag..]).map(|(a, b)| *a as f64 * *b as f64).sum();
        dot / (variance(x) * (x.len() - lag) as f64)
    }

    #[test]
    fn synthesis_plays_the_power_and_period_it_is_given() {
        let mut codec = Hnm::new(RATE, HOP);
        codec.reset(1);
        // Harmonics of 200 Hz at density 0.01 (variance 0.01 over the band they fill).
        let y = play(&mut codec, &flat_frame(200.0, 0.01, 0.0), 100);
        let steady = &y[4 * HOP..];
        let v = variance(steady);
        assert!((v / 0.0095 - 1.0).abs() < 0.1, "harmonic variance {v}");
        assert!(periodicity(steady, 80) > 0.99, "a 200 Hz period: {}", periodicity(steady, 80));
        // Noise at density 0.01: variance 0.01, no period.
        codec.reset(1);
        let y = play(&mut codec, &flat_frame(200.0, 0.0, 0.01), 400);
        let v = variance(&y[4 * HOP..]);
        assert!((v / 0.01 - 1.0).abs() < 0.05, "noise variance {v}");
        assert!(periodicity(&y[4 * HOP..], 80).abs() < 0.05);
        // Whatever a generated frame holds, the output stays finite and bounded.
        for bad in [f32::NAN, f32::INFINITY, -1e30, 1e30] {
            let out = play(&mut codec, &vec![bad; hnm::DIM], 20);
            assert!(out.iter().all(|v| v.is_finite() && v.abs() < 100.0), "{bad}");
        }
    }

    #[test]
    fn pitch_moves_f0_and_keeps_the_power() {
        let mut codec = Hnm::new(RATE, HOP);
        codec.reset(2);
        assert!(codec.set_pitch(2.0), "hnm transposes by itself");
        let y = play(&mut codec, &flat_frame(100.0, 0.01, 0.0), 100);
        let steady = &y[4 * HOP..];
        assert!(periodicity(steady, 80) > 0.99, "100 Hz up an octave: {}", periodicity(steady, 80));
        // A flat envelope at twice the f0: half the harmonics, each with twice the power.
        assert!((variance(steady) / 0.0095 - 1.0).abs() < 0.1, "{}", variance(steady));
    }

    #[test]
    fn formant_moves_the_envelope_and_keeps_the_pitch() {
        // Harmonics of one formant near band 12 (about 1.1 kHz), 125 Hz pitch.
        let mut frame = flat_frame(125.0, 1e-6, 1e-9);
        frame[hnm::HARMONIC + 12] = 0.5 * 0.01f32.ln();
        // Brightness: mean squared first difference over mean square (rises with frequency).
        let brightness = |x: &[f32]| {
            let d: f64 = x.windows(2).map(|w| ((w[1] - w[0]) as f64).powi(2)).sum();
            d / (variance(x) * x.len() as f64)
        };
        let mut codec = Hnm::new(RATE, HOP);
        codec.reset(3);
        let plain = play(&mut codec, &frame, 100)[4 * HOP..].to_vec();
        codec.reset(3);
        codec.set_formant(1.5);
        let shifted = play(&mut codec, &frame, 100)[4 * HOP..].to_vec();
        codec.reset(3);
        codec.set_formant(1.0 / 1.5);
        let lowered = play(&mut codec, &frame, 100)[4 * HOP..].to_vec();
        let (a, up, down) = (brightness(&plain), brightness(&shifted), brightness(&lowered));
        assert!(up > 1.2 * a && down < a / 1.2, "brightness {down} < {a} < {up}");
        for x in [&shifted, &lowered] {
            assert!(periodicity(x, 128) > 0.9, "the 125 Hz pitch stays: {}", periodicity(x, 128));
        }
    }

    /// A harmonic tone with a 1/k spectrum, plus white noise.
    fn tone(f0: f32, noise: f32, len: usize) -> Vec<f32> {
        let mut rng = vrnn_core::Rng::new(5);
        (0..len)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                let h: f32 = (1..30)
                    .filter(|k| *k as f32 * f0 < 7000.0)
                    .map(|k| 0.1 * (std::f32::consts::TAU * f0 * k as f32 * t).sin() / k as f32)
                    .sum();
                h + noise * rng.gaussian()
            })
            .collect()
    }

    #[test]
    fn analysis_finds_pitch_voicing_and_the_harmonic_share() {
        let codec = Hnm::new(RATE, HOP);
        let len = RATE as usize;
        let frames = codec.analyse(&tone(150.0, 0.001, len));
        assert_eq!(frames.len(), (len.div_ceil(HOP) + 1) * hnm::DIM);
        let middle: Vec<&[f32]> = frames.chunks_exact(hnm::DIM).skip(10).take(50).collect();
        for f in &middle {
            let f0 = f[hnm::F0].exp();
            assert!((f0 / 150.0 - 1.0).abs() < 0.01, "f0 {f0}");
            // Below 2 kHz the tone is far above the noise: harmonic >> noise.
            for j in 0..12 {
                let (h, n) = (f[hnm::HARMONIC + j], f[hnm::NOISE + j]);
                assert!(h > n + 1.0, "band {j}: harmonic {h} vs noise {n}");
            }
        }
        // White noise: unvoiced, no harmonic power, a flat noise envelope at its variance.
        let sigma = 0.05f32;
        let noise: Vec<f32> =
            tone(150.0, sigma, len).iter().zip(tone(150.0, 0.0, len)).map(|(a, b)| a - b).collect();
        let frames = codec.analyse(&noise);
        let expected = 0.5 * (sigma * sigma).ln();
        for f in frames.chunks_exact(hnm::DIM).skip(5).take(60) {
            // Harmonics 25 dB under the noise (never a constant floor).
            for (h, n) in f[hnm::HARMONIC..hnm::NOISE].iter().zip(&f[hnm::NOISE..]) {
                assert!((n - h - 2.9).abs() < 0.1, "harmonic {h} vs noise {n}");
            }
            let mean = f[hnm::NOISE..].iter().sum::<f32>() / hnm::BANDS as f32;
            assert!((mean - expected).abs() < 0.3, "noise envelope {mean} vs {expected}");
        }
    }
}
