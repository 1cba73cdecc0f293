//! The hnm domain on real speech, without a model: analysis then synthesis keeps a
//! recording's long-term spectrum and its voicing, and transposing by an octave doubles
//! its f0 while the spectral envelope (the formants) stays where it is, which varispeed
//! does not do.

mod common;

use vrnn_core::domain::{self, hnm};
use vrnn_core::{Domain, ModelConfig};
use vrnn_trainer::{audio, sound};

const RATE: u32 = 16_000;

/// Analysis then synthesis of `x` at `pitch`, aligned with it and as long.
fn resynthesise(x: &[f32], pitch: f32) -> Vec<f32> {
    let config = ModelConfig { domain: Domain::Hnm, ..ModelConfig::default() };
    let hop = config.frame_size;
    let mut codec = domain::codec(&config);
    let frames = codec.analyse(x);
    codec.reset(1);
    codec.set_pitch(pitch);
    let mut out = vec![0.0; (frames.len() / hnm::DIM) * hop];
    for (f, o) in frames.chunks_exact(hnm::DIM).zip(out.chunks_exact_mut(hop)) {
        codec.synthesise(f, o);
    }
    out[hop..hop + x.len()].to_vec()
}

/// The median ratio of the f0 the hnm analysis reads in `b` to the one in `a`, over the
/// frames where both are clearly voiced (harmonics above the noise in band 3, ~250 Hz).
fn frame_by_frame_ratio(a: &[f32], b: &[f32]) -> f32 {
    let config = ModelConfig { domain: Domain::Hnm, ..ModelConfig::default() };
    let codec = domain::codec(&config);
    let voiced = |f: &[f32]| f[hnm::HARMONIC + 3] > f[hnm::NOISE + 3] + 1.0;
    let (fa, fb) = (codec.analyse(a), codec.analyse(b));
    let mut ratios: Vec<f32> = fa
        .chunks_exact(hnm::DIM)
        .zip(fb.chunks_exact(hnm::DIM))
        .filter(|(p, q)| voiced(p) && voiced(q))
        .map(|(p, q)| (q[hnm::F0] - p[hnm::F0]).exp())
        .collect();
    assert!(ratios.len() > 50, "{} frames voiced in both", ratios.len());
    ratios.sort_by(f32::total_cmp);
    ratios[ratios.len() / 2]
}

/// The real recording and 20 s of each synthetic training voice.
fn recordings() -> Vec<(String, Vec<f32>)> {
    let mut out =
        vec![("arctic".to_string(), audio::load_mono(&common::arctic(), RATE, 0.0).unwrap())];
    for voice in ["awb_flite_16k", "rms_flite_16k", "slt_hts_32k"] {
        let x = audio::load_mono(&common::data(&format!("voice/{voice}.wav")), RATE, 0.0).unwrap();
        out.push((voice.to_string(), x[5 * RATE as usize..25 * RATE as usize].to_vec()));
    }
    out
}

#[test]
fn analysis_then_synthesis_keeps_the_spectrum_and_the_voicing() {
    for (name, x) in recordings() {
        let y = resynthesise(&x, 1.0);
        let (a, b) = (sound::features(&x, RATE, 200, 0), sound::features(&y, RATE, 200, 0));
        let ltas = sound::ltas_distance(&a, &b);
        eprintln!(
            "{name}: LTAS {ltas:.2} dB, voiced {:.2} -> {:.2}, level {:.1} -> {:.1} dBFS, flatness {:.3} -> {:.3}",
            a.voiced_fraction, b.voiced_fraction, a.level_dbfs, b.level_dbfs, a.flatness, b.flatness
        );
        assert!(ltas <= 3.0, "{name}: long-term spectrum {ltas:.2} dB away");
        let voicing = (a.voiced_fraction - b.voiced_fraction).abs();
        assert!(
            voicing <= 0.1,
            "{name}: voiced fraction {} -> {}",
            a.voiced_fraction,
            b.voiced_fraction
        );
        assert!((a.level_dbfs - b.level_dbfs).abs() <= 1.5, "{name}: level");
    }
}

#[test]
fn an_octave_up_doubles_f0_and_keeps_the_formants_unlike_varispeed() {
    for (name, x) in recordings() {
        let (y, up) = (resynthesise(&x, 1.0), resynthesise(&x, 2.0));
        let (f0, f0_up) =
            (sound::median_f0(&y, RATE).unwrap(), sound::median_f0(&up, RATE).unwrap());
        let envelope = |s: &[f32]| sound::features(s, RATE, 200, 0);
        let moved = sound::ltas_distance_above(&envelope(&y), &envelope(&up), 1000.0);
        // Varispeed: the same recording played twice as fast (read as 32 kHz).
        let fast = audio::resample(&x, 2 * RATE, RATE).unwrap();
        let varispeed = sound::ltas_distance_above(&envelope(&x), &envelope(&fast), 1000.0);
        let ratio = frame_by_frame_ratio(&y, &up);
        eprintln!("{name}: f0 x{ratio:.3} frame by frame, median f0 {f0:.0} -> {f0_up:.0} Hz, envelope above 1 kHz moved {moved:.2} dB (varispeed: {varispeed:.2} dB)");
        assert!((ratio - 2.0).abs() < 0.02, "{name}: f0 x{ratio} frame by frame");
        // The report's autocorrelation pitch reads some transposed frames an octave low
        // (a period's multiple correlates as well), so its medians agree more loosely.
        assert!((f0_up / f0 - 2.0).abs() < 0.2, "{name}: median f0 {f0} -> {f0_up}");
        assert!(moved < 2.0, "{name}: the envelope moved {moved:.2} dB");
        assert!(varispeed > 2.0 * moved, "{name}: varispeed moved it {varispeed:.2} dB");
    }
}
