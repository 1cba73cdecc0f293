//! Live input through the real `VRNN Synth.clap` in clack-host: the sidechain of the default
//! (instrument) layout followed by Follow. The bundle is built with assert_process_allocs:
//! an allocation in process() aborts this binary.

use std::path::PathBuf;
use std::sync::Arc;

use vrnn_core::stream::{DEFAULT_NOISE, DEFAULT_TEMPERATURE};
use vrnn_core::{Listener, Model, Stream};
use vrnn_tests::clap_host::{Event, Session};
use vrnn_tests::{bundled, shared_data};
use vrnn_trainer::resynth::FollowOptions;

const RATE: u32 = 48_000;

fn clap() -> PathBuf {
    bundled("VRNN Synth.clap")
}

fn builtin() -> Arc<Model> {
    Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()))
}

/// A held-out real recording (arctic_a0009, 3 s) at the host rate.
fn speech() -> Vec<f32> {
    let path = shared_data("arctic/arctic_a0009.wav");
    vrnn_trainer::audio::load_mono(&path, RATE, 0.0).unwrap()
}

/// The latency of the live path, from vrnn-core (what the plugin must report).
fn follow_latency() -> usize {
    let model = builtin();
    let listener = Listener::new(&model.config, RATE as f64).unwrap();
    Stream::new(model, RATE as f64, 0).unwrap().follow_latency(&listener)
}

/// The plugin at Follow `follow` (and `more` events) with `input` on its sidechain.
fn play(input: &[f32], total: usize, block: usize, more: &[(usize, Event)]) -> (Vec<f32>, usize) {
    let mut s = Session::new(&clap(), RATE as f64, 512);
    let mut events = vec![(0, Event::Param("Follow", 1.0))];
    events.extend_from_slice(more);
    let [l, _] = s.render_with_input(total, || block, &events, input);
    (l, s.latency() as usize)
}

#[test]
fn following_the_sidechain_is_exactly_trainer_resynth_follow_and_reports_its_latency() {
    let input = speech();
    let delay = follow_latency();
    let (out, reported) = play(&input, input.len() + delay, 512, &[]);
    assert_eq!(reported, delay, "the reported latency is the live path's");
    let options = FollowOptions {
        follow: 1.0,
        temperature: DEFAULT_TEMPERATURE,
        noise: DEFAULT_NOISE,
        seed: 0,
        gate_db: vrnn_core::listen::DEFAULT_GATE_DB,
        rate: RATE,
    };
    let offline = vrnn_trainer::resynth::follow(builtin(), &input, options).unwrap();
    assert!(out[delay..] == offline[..], "the plugin and trainer resynth --follow differ");
    let (other_blocks, _) = play(&input, input.len() + delay, 64, &[]);
    assert!(other_blocks == out, "64-sample blocks differ from 512");
}

#[test]
fn an_onset_on_the_sidechain_comes_out_after_the_reported_latency() {
    // The gate off: before the onset the voice resynthesises the silence.
    let gate_off = [(0, Event::Param("Input Gate", -90.0))];
    let onset = 2 * RATE as usize;
    let mut input = vec![0.0f32; onset];
    input.extend(speech());
    for block in [64, 512] {
        let (out, reported) = play(&input, input.len(), block, &gate_off);
        let rms = |a: usize| (out[a..a + 96].iter().map(|v| v * v).sum::<f32>() / 96.0).sqrt();
        let loud = (onset..input.len() - 96).step_by(96).map(rms).fold(0.0f32, f32::max);
        let quiet = (onset / 2..onset - 96).step_by(96).map(rms).fold(0.0f32, f32::max);
        assert!(quiet < 0.01 * loud, "silence in, silence out: {quiet} vs {loud}");
        let heard = (onset..).step_by(16).find(|&a| rms(a) > 0.1 * loud).unwrap() - onset;
        // The input's own onset, measured the same way.
        let said = (onset..).step_by(16).find(|&a| {
            (input[a..a + 96].iter().map(|v| v * v).sum::<f32>() / 96.0).sqrt() > 0.1 * 0.3
        });
        let said = said.unwrap() - onset;
        let frame = 600; // one model frame at 48 kHz
        eprintln!("block {block}: input onset +{said}, heard +{heard}, reported {reported}");
        assert!(
            heard.abs_diff(said + reported) <= frame,
            "block {block}: heard {heard}, said {said}, reported {reported}"
        );
    }
}

#[test]
fn dry_is_the_input_delayed_by_the_latency_and_bad_input_never_leaves_non_finite() {
    let input = speech();
    let total = input.len() + 4000;
    let (out, reported) = play(&input, total, 256, &[(0, Event::Param("Dry/Wet", 0.0))]);
    for (k, v) in out[reported..].iter().enumerate() {
        assert_eq!(*v, input.get(k).copied().unwrap_or(0.0), "dry sample {k}");
    }
    let n = RATE as usize / 4;
    let mut bad: Vec<f32> =
        (0..n).map(|i| [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3]).collect();
    bad.extend(vec![1e-40; n]);
    bad.extend((0..n).map(|i| if i / 100 % 2 == 0 { 1.0 } else { -1.0 }));
    bad.extend(vec![1.0; n]);
    bad.extend(vec![1e30; n]);
    let (out, _) = play(&bad, bad.len() + 4000, 512, &[(0, Event::Param("Input Gate", -90.0))]);
    assert!(out.iter().all(|v| v.is_finite() && v.abs() <= 1.0), "finite, limited output");
}

#[test]
fn at_follow_zero_an_input_changes_nothing() {
    let input = speech();
    let mut s = Session::new(&clap(), RATE as f64, 512);
    let [alone, _] = s.render(input.len(), || 512, &[]);
    let (with_input, _) = play(&input, input.len(), 512, &[(0, Event::Param("Follow", 0.0))]);
    assert!(with_input == alone, "Follow 0 plays the free voice, input or not");
}
