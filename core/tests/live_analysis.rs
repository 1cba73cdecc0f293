//! Live analysis (a hop at a time, for live input) against offline analysis: the same frames
//! in the time and MDCT domains, and in the hnm domain the same band powers with a causal
//! pitch contour that agrees with the offline one.

use vrnn_core::domain::hnm::{self, Hnm, LiveHnm};
use vrnn_core::domain::{FrameCodec, LiveAnalyser, LiveMdct, LiveTime, Mdct, Time};
use vrnn_core::Rng;

const RATE: u32 = 16_000;
const HOP: usize = 200;

/// Frames `live` makes of `signal` (padded with silence so that every offline frame comes
/// out), numbered as offline analysis numbers them.
fn live_frames(live: &mut dyn LiveAnalyser, signal: &[f32], dim: usize, frames: usize) -> Vec<f32> {
    let hops = frames + live.lookahead();
    let mut padded = signal.to_vec();
    padded.resize(hops * HOP, 0.0);
    let mut out = vec![0.0; hops * dim];
    for (hop, frame) in padded.chunks_exact(HOP).zip(out.chunks_exact_mut(dim)) {
        live.push(hop, frame);
    }
    out[live.lookahead() * dim..].to_vec()
}

/// Speech-like: a gliding 100-250 Hz buzz in syllables, with a hiss and a pause.
fn voice(seconds: f64) -> Vec<f32> {
    let mut rng = Rng::new(3);
    let mut phase = 0.0f64;
    (0..(seconds * RATE as f64) as usize)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let f0 = 175.0 + 75.0 * (std::f64::consts::TAU * 0.3 * t).sin();
            phase += f0 / RATE as f64;
            let tone: f64 =
                (1..20).map(|k| (std::f64::consts::TAU * k as f64 * phase).sin() / k as f64).sum();
            let syllable = (std::f64::consts::TAU * 3.0 * t).sin();
            let pause = if (2.0..2.8).contains(&t) { 0.0 } else { 1.0 };
            let hiss = if syllable < -0.7 { 0.05 * rng.gaussian() as f64 } else { 0.0 };
            (pause * (0.2 * tone * syllable.max(0.0) + hiss)) as f32
        })
        .collect()
}

#[test]
fn time_and_mdct_live_frames_are_the_offline_frames() {
    let x = voice(1.0);
    let offline = Time::new(HOP).analyse(&x);
    assert_eq!(offline, live_frames(&mut LiveTime, &x, HOP, offline.len() / HOP));
    let offline = Mdct::new(HOP).analyse(&x);
    let live = live_frames(&mut LiveMdct::new(HOP), &x, HOP, offline.len() / HOP);
    assert_eq!(offline, live);
}

#[test]
fn hnm_live_frames_have_the_offline_envelopes_and_a_causal_contour_that_agrees() {
    let x = voice(4.0);
    let offline = Hnm::new(RATE, HOP).analyse(&x);
    let frames = offline.len() / hnm::DIM;
    let mut live = LiveHnm::new(RATE, HOP);
    assert_eq!(live.lookahead(), 1, "the windows reach 268 samples past a frame's centre");
    let online = live_frames(&mut live, &x, hnm::DIM, frames);
    let (mut same_voicing, mut close_f0, mut both_voiced, mut same_unvoiced) = (0, 0, 0, 0);
    let pairs = offline.chunks_exact(hnm::DIM).zip(online.chunks_exact(hnm::DIM));
    // Past the signal's end offline analysis reads digital zeros, the live one dithered ones.
    let inside = (x.len() - 268) / HOP;
    for (a, b) in pairs.take(inside) {
        // A frame is voiced when some band's harmonics are above their least share (0.3 %
        // of the band's power, 25 dB under its noise) and well above the floor (-80 dB:
        // in the dither of a silence the floor hides the split).
        let least = 0.5 * (0.003f32 / 0.997).ln();
        let voiced = |f: &[f32]| {
            (0..hnm::BANDS).any(|j| {
                let (h, n) = (f[hnm::HARMONIC + j], f[hnm::NOISE + j]);
                h > 0.5 * 1e-8f32.ln() && h - n > least + 1e-3
            })
        };
        if voiced(a) == voiced(b) {
            same_voicing += 1;
        }
        if voiced(a) && voiced(b) {
            both_voiced += 1;
            if (a[hnm::F0] - b[hnm::F0]).abs() < 0.01 {
                close_f0 += 1;
            }
        }
        if !voiced(a) && !voiced(b) {
            same_unvoiced += 1;
        }
        // Each band's power (harmonics plus noise) comes from the same windows of the same
        // dithered samples: the offline one, to rounding.
        for j in 0..hnm::BANDS {
            let power = |f: &[f32]| {
                ((2.0 * f[hnm::HARMONIC + j]).exp() + (2.0 * f[hnm::NOISE + j]).exp()).ln()
            };
            assert!((power(a) - power(b)).abs() < 1e-4, "band {j}: {} vs {}", power(a), power(b));
        }
    }
    let share = |n: usize, of: usize| n as f64 / of as f64;
    assert!(share(same_voicing, inside) > 0.9, "voicing agrees on {same_voicing} of {inside}");
    assert!(share(close_f0, both_voiced) > 0.95, "f0 within 1 % on {close_f0} of {both_voiced}");
    assert!(
        both_voiced > inside / 3 && same_unvoiced > inside / 10,
        "{both_voiced}, {same_unvoiced}"
    );
}
