//! The real `VRNN Synth.clap`, hosted by clack-host. The bundle is a debug build with
//! nice-plug's assert_process_allocs: any allocation in process() aborts this test binary.

use std::path::PathBuf;

use vrnn_tests::clap_host::{state_bytes, state_json, Event, Session};
use vrnn_tests::{bundled, shared_data};

fn clap() -> PathBuf {
    bundled("VRNN Synth.clap")
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

#[test]
fn plays_ten_seconds_at_common_rates() {
    for rate in [44_100.0, 48_000.0, 96_000.0] {
        let mut s = Session::new(&clap(), rate, 512);
        let [l, r] = s.render((10.0 * rate) as usize, || 512, &[]);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()), "{rate} Hz: finite");
        let level = rms(&l);
        assert!(level > 1e-3, "{rate} Hz: not silent (rms {level})");
        assert!(l.iter().all(|v| v.abs() < 4.0), "{rate} Hz: no runaway");
        assert_eq!(l, r, "width 0 is mono");
    }
}

#[test]
fn plays_at_the_extreme_host_rates() {
    for rate in [22_050.0, 192_000.0] {
        let mut s = Session::new(&clap(), rate, 1024);
        let [l, _] = s.render((2.0 * rate) as usize, || 1024, &[]);
        assert!(l.iter().all(|v| v.is_finite()) && rms(&l) > 1e-3, "{rate} Hz");
    }
}

#[test]
fn output_is_bit_identical_across_block_sizes() {
    let total = 96_000;
    let events = [(10_007, Event::Param("Temperature", 0.7)), (50_000, Event::Param("Width", 0.6))];
    let render = |block: &mut dyn FnMut() -> usize| {
        let mut s = Session::new(&clap(), 48_000.0, 8192);
        s.render(total, block, &events)
    };
    let reference = render(&mut || 8192);
    assert_ne!(reference[0], reference[1], "width opens the second voice");
    for size in [1, 64, 512] {
        assert!(render(&mut || size) == reference, "block size {size}");
    }
    let mut state = 12345u64;
    let mut random = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        1 + (state >> 33) as usize % 8192
    };
    assert!(render(&mut random) == reference, "random block sizes");
}

#[test]
fn a_fresh_instance_and_a_reactivation_repeat_themselves() {
    let mut a = Session::new(&clap(), 48_000.0, 256);
    let first = a.render(48_000, || 256, &[]);
    a.activate(48_000.0);
    let again = a.render(48_000, || 256, &[]);
    let mut b = Session::new(&clap(), 48_000.0, 256);
    assert!(first == again, "reactivation repeats");
    assert!(first == b.render(48_000, || 256, &[]), "a fresh instance repeats");
}

#[test]
fn seed_and_temperature_change_the_output() {
    let base = Session::new(&clap(), 48_000.0, 512).render(48_000, || 512, &[]);
    let seeded = Session::new(&clap(), 48_000.0, 512).render(
        48_000,
        || 512,
        &[(0, Event::Param("Seed", 17.0))],
    );
    let cold = Session::new(&clap(), 48_000.0, 512).render(
        48_000,
        || 512,
        &[(0, Event::Param("Temperature", 0.0))],
    );
    assert!(base[0] != seeded[0], "seed changes the voice");
    assert!(base[0] != cold[0], "temperature changes the voice");
    assert!(rms(&seeded[0]) > 1e-3 && rms(&cold[0]) > 1e-3);
}

#[test]
fn midi_mode_plays_notes_and_releases_them() {
    let mut s = Session::new(&clap(), 48_000.0, 256);
    let rate = 48_000;
    let events = [
        (0, Event::Param("Mode", 1.0)),
        (rate / 2, Event::NoteOn(60)),
        (rate, Event::NoteOff(60)),
        (3 * rate / 2, Event::NoteOn(72)),
        (2 * rate, Event::NoteOff(72)),
    ];
    let [l, _] = s.render(5 * rate / 2, || 256, &events);
    // Switching from free-running to MIDI releases the free voice (150 ms), then silence.
    assert!(l[rate / 5..rate / 2].iter().all(|v| *v == 0.0), "silence before the first note-on");
    assert!(rms(&l[rate / 2 + 2000..rate]) > 1e-3, "sound during the note");
    // The envelope opens when the note's sound comes out: one latency (the look-ahead frame
    // and the hnm built-in's synthesis frame, 600 samples each, and the resampler's 384)
    // after the note-on.
    let onset = l[rate / 2..].iter().position(|v| *v != 0.0).unwrap();
    assert!((1580..=1590).contains(&onset), "sound starts {onset} samples after the note-on");
    let release_end = rate + rate * 2 / 10;
    assert!(l[release_end..3 * rate / 2].iter().all(|v| *v == 0.0), "released within 200 ms");
    assert!(rms(&l[rate..rate + 2000]) > 0.0, "the release is a fade, not a cut");
    assert!(rms(&l[3 * rate / 2 + 2000..2 * rate]) > 1e-3, "a note an octave up plays");
}

#[test]
fn midi_notes_transpose_the_hnm_built_in_and_keep_its_formants() {
    use vrnn_trainer::{audio, sound};
    assert_eq!(vrnn_core::builtin::BUILTIN_DOMAIN, vrnn_core::Domain::Hnm);
    let mut s = Session::new(&clap(), 48_000.0, 512);
    let rate = 48_000;
    // C3 and C4: the voices' own range (a speaking voice two octaves up has so few
    // harmonics above 1 kHz that they no longer trace its envelope).
    // One voice: every note replays the Seed's voice.
    let events = [
        (0, Event::Param("Mode", 1.0)),
        (0, voices(1)),
        (256, Event::NoteOn(48)),
        (4 * rate, Event::NoteOff(48)),
        (5 * rate, Event::NoteOn(60)),
        (9 * rate, Event::NoteOff(60)),
    ];
    let [l, _] = s.render(10 * rate, || 512, &events);
    // With one voice each note-on restarts it from the seed: the same utterance at two
    // pitches.
    let at_16k = |x: &[f32]| audio::resample(x, 48_000, 16_000).unwrap();
    let (c3, c4) = (at_16k(&l[rate / 2..4 * rate]), at_16k(&l[5 * rate + rate / 2..9 * rate]));
    let (f0, f0_up) =
        (sound::median_f0(&c3, 16_000).unwrap(), sound::median_f0(&c4, 16_000).unwrap());
    let envelope = |x: &[f32]| sound::features(x, 16_000, 200, 0);
    let moved = sound::ltas_distance_above(&envelope(&c3), &envelope(&c4), 1000.0);
    eprintln!("note 48: median f0 {f0:.0} Hz; note 60: {f0_up:.0} Hz; envelope above 1 kHz moved {moved:.2} dB");
    // The voices' mean pitch moves to the note (C3, 130.8 Hz) and the contour keeps its
    // shape around it: a stretch of the voice's higher or lower speakers sits above or
    // below the note, within a tritone.
    assert!((f0 / 130.8).log2().abs() < 0.5, "note 48 sings at {f0} Hz");
    assert!((f0_up / f0 - 2.0).abs() < 0.2, "an octave up: {f0} -> {f0_up} Hz");
    assert!(moved < 2.0, "the formants moved {moved:.2} dB");
}

fn trained_model(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("swap.vrnn");
    let mut opts =
        vrnn_trainer::fit::FitOptions::with_defaults(vec![shared_data("arctic/arctic_a0009.wav")]);
    opts.output = Some(path.clone());
    opts.preset = vrnn_trainer::presets::Preset::Tiny;
    opts.cell = vrnn_core::Cell::Gru;
    opts.steps = Some(20);
    opts.device = "cpu".into();
    opts.seed = 1;
    opts.lr = 3e-3;
    opts.batch = 4;
    opts.quiet = true;
    vrnn_trainer::fit::fit(&opts).unwrap();
    path
}

/// The state with its saved model path replaced.
fn with_model_path(state: &[u8], path: &str) -> Vec<u8> {
    let mut json = state_json(state);
    json["fields"]["model-path"] = serde_json::Value::String(serde_json::to_string(path).unwrap());
    state_bytes(&json)
}

#[test]
fn state_round_trips_parameters_and_model_path() {
    let dir = std::env::temp_dir().join(format!("vrnn-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = trained_model(&dir);
    let mut a = Session::new(&clap(), 48_000.0, 512);
    a.render(
        4096,
        || 512,
        &[
            (0, Event::Param("Seed", 42.0)),
            (0, Event::Param("Gain", -6.0)),
            (0, Event::Param("Mode", 1.0)),
        ],
    );
    let state = with_model_path(&a.save_state(), model.to_str().unwrap());
    let mut b = Session::new(&clap(), 48_000.0, 512);
    b.load_state(&state);
    assert_eq!(b.param_value("Seed").round(), 42.0);
    assert!((b.param_value("Gain") - a.param_value("Gain")).abs() < 1e-6);
    assert_eq!(b.param_value("Mode").round(), 1.0);
    let saved = state_json(&b.save_state());
    let path: String =
        serde_json::from_str(saved["fields"]["model-path"].as_str().unwrap()).unwrap();
    assert_eq!(path, model.to_str().unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_swap_while_playing_crossfades_without_a_jump() {
    let dir = std::env::temp_dir().join(format!("vrnn-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = trained_model(&dir);
    let rate = 48_000;
    let mut s = Session::new(&clap(), rate as f64, 256);
    let [before, _] = s.render(rate / 2, || 256, &[]);
    let state = with_model_path(&s.save_state(), model.to_str().unwrap());
    s.load_state(&state);
    let [after, _] = s.render(rate, || 256, &[]);
    assert!(before.iter().chain(&after).all(|v| v.is_finite()));
    let jump = |x: &[f32]| x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let fade = (0.02 * rate as f32) as usize;
    let settled = &after[rate / 4..];
    let allowed = jump(&before).max(jump(settled))
        + 2.0 * peak(&before).max(peak(settled)) / fade as f32
        + 1e-4;
    let seam = [&before[before.len() - 1..], &after[..rate / 4]].concat();
    assert!(jump(&seam) <= allowed, "jump {} > {allowed} across the swap", jump(&seam));
    assert!(settled != &before[..settled.len().min(before.len())], "the new model plays");
    assert!(rms(settled) > 1e-4, "the new model is not silent");
    // A bad file keeps the current model playing.
    let bad = dir.join("bad.vrnn");
    std::fs::write(&bad, b"definitely not a model").unwrap();
    let bad_state = with_model_path(&s.save_state(), bad.to_str().unwrap());
    s.load_state(&bad_state);
    let [later, _] = s.render(rate / 2, || 256, &[]);
    assert!(later.iter().all(|v| v.is_finite()) && rms(&later) > 1e-4);
    std::fs::remove_dir_all(dir).unwrap();
}

/// What `trainer sample` renders of the built-in voice in `precision`: one second at 48 kHz.
fn trainer_sample(precision: vrnn_core::Precision) -> Vec<f32> {
    use vrnn_core::stream::{DEFAULT_NOISE, DEFAULT_TEMPERATURE};
    let builtin = vrnn_core::builtin::builtin_voice().unwrap();
    let model = vrnn_core::Model::from_file_with(&builtin, precision).unwrap();
    let opts = vrnn_trainer::sample::SampleOptions {
        seconds: 1.0,
        temperature: DEFAULT_TEMPERATURE,
        noise: DEFAULT_NOISE,
        seed: 0,
        sample_rate: 48_000,
    };
    vrnn_trainer::sample::render(std::sync::Arc::new(model), &opts).unwrap()
}

#[test]
fn the_plugin_plays_exactly_what_trainer_sample_renders() {
    let [l, _] = Session::new(&clap(), 48_000.0, 512).render(48_000, || 512, &[]);
    assert!(
        l == trainer_sample(vrnn_core::Precision::F32),
        "plugin output and trainer sample differ"
    );
}

#[test]
fn a_saved_weights_setting_is_restored_and_played() {
    use vrnn_core::Precision;
    for precision in [Precision::F16, Precision::Int8] {
        let mut s = Session::new(&clap(), 48_000.0, 512);
        let mut json = state_json(&s.save_state());
        assert_eq!(json["fields"]["precision"], serde_json::json!("\"f32\""), "{json}");
        let saved = serde_json::json!(format!("\"{precision}\""));
        json["fields"]["precision"] = saved.clone();
        s.load_state(&state_bytes(&json));
        s.activate(48_000.0);
        let [l, _] = s.render(48_000, || 512, &[]);
        assert!(l == trainer_sample(precision), "plugin {precision} output differs");
        assert!(l != trainer_sample(Precision::F32), "{precision} weights change the output");
        assert_eq!(state_json(&s.save_state())["fields"]["precision"], saved);
    }
}

fn bend(value: f64) -> Event {
    let raw = ((value + 1.0) * 8192.0).round().clamp(0.0, 16383.0) as u16;
    Event::Midi([0xE0, (raw & 0x7F) as u8, (raw >> 7) as u8])
}

fn cc(number: u8, value: u8) -> Event {
    Event::Midi([0xB0, number, value])
}

fn midi_render(seconds: usize, events: &[(usize, Event)]) -> Vec<f32> {
    let mut all = vec![(0, Event::Param("Mode", 1.0))];
    all.extend_from_slice(events);
    let [l, _] = Session::new(&clap(), 48_000.0, 512).render(seconds * 48_000, || 512, &all);
    l
}

#[test]
fn velocity_sets_the_level_by_its_curve_and_sustain_holds_the_note() {
    let rate = 48_000;
    let loud = midi_render(3, &[(0, Event::NoteOnAt(48, 1.0))]);
    let soft = midi_render(3, &[(0, Event::NoteOnAt(48, 32.0 / 127.0))]);
    let span = rate / 2..3 * rate;
    let ratio_db = 20.0 * (rms(&soft[span.clone()]) / rms(&loud[span])).log10();
    // The default Velocity 0.5: gain = velocity^1.
    let want = 20.0 * (32.0f32 / 127.0).log10();
    eprintln!("velocity 32 vs 127: {ratio_db:.2} dB (curve: {want:.2})");
    assert!((ratio_db - want).abs() < 0.3, "velocity 32 vs 127: {ratio_db:.2} dB, want {want:.2}");

    let held = midi_render(
        4,
        &[
            (rate / 2, Event::NoteOn(48)),
            (rate, cc(SUSTAIN, 127)),
            (3 * rate / 2, Event::NoteOff(48)),
            (5 * rate / 2, cc(SUSTAIN, 0)),
        ],
    );
    assert!(rms(&held[2 * rate..5 * rate / 2]) > 1e-3, "the pedal holds a released note");
    let gone = 5 * rate / 2 + rate / 4;
    assert!(held[gone..].iter().all(|v| *v == 0.0), "lifting the pedal releases it");
}

const SUSTAIN: u8 = 64;
const MOD_WHEEL: u8 = 1;

#[test]
fn pitch_bend_moves_the_pitch_and_the_mod_wheel_the_temperature() {
    use vrnn_trainer::{audio, sound};
    let rate = 48_000;
    let f0 = |x: &[f32]| {
        let x = audio::resample(&x[rate / 2..], 48_000, 16_000).unwrap();
        sound::median_f0(&x, 16_000).unwrap()
    };
    let plain = midi_render(4, &[(0, Event::NoteOn(48))]);
    // Full bend up at the default range of 2 semitones: 2^(2/12) = 1.122.
    let bent = midi_render(4, &[(0, bend(1.0)), (0, Event::NoteOn(48))]);
    let ratio = f0(&bent) / f0(&plain);
    eprintln!("bend +2 st: f0 {:.1} -> {:.1} Hz (x{ratio:.4})", f0(&plain), f0(&bent));
    assert!((ratio / 1.1225 - 1.0).abs() < 0.03, "bend +2 st: f0 x{ratio:.3}");
    let down = midi_render(4, &[(0, bend(-1.0)), (0, Event::NoteOn(48))]);
    let ratio = f0(&down) / f0(&plain);
    eprintln!("bend -2 st: f0 x{ratio:.4}");
    assert!((ratio * 1.1225 - 1.0).abs() < 0.03, "bend -2 st: f0 x{ratio:.3}");

    let wheel_at_rest = midi_render(2, &[(0, cc(MOD_WHEEL, 0)), (0, Event::NoteOn(48))]);
    let wheel_up = midi_render(2, &[(0, cc(MOD_WHEEL, 127)), (0, Event::NoteOn(48))]);
    assert!(wheel_at_rest == plain[..2 * rate], "a mod wheel at rest changes nothing");
    assert!(wheel_up != wheel_at_rest && rms(&wheel_up) > 1e-3, "the mod wheel heats the voice");
}

#[test]
fn the_limiter_keeps_ten_minutes_at_the_hottest_settings_under_0_dbfs() {
    let rate = 48_000;
    let hot = [(0, Event::Param("Temperature", 2.0)), (0, Event::Param("Noise", 1.0))];
    let mut s = Session::new(&clap(), 48_000.0, 512);
    let [l, r] = s.render(600 * rate, || 512, &hot);
    let peak = l.iter().chain(&r).fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("10 min at temperature 2, noise 1: peak {peak:.4}");
    assert!(l.iter().all(|v| v.is_finite()) && peak <= 1.0, "peak {peak}");
    // 12 dB of gain on top drives it hard; the peaks stay at the ceiling and the level
    // comes back up after a peak (it is a limiter, not a gain cut).
    let mut hotter = hot.to_vec();
    hotter.push((0, Event::Param("Gain", 12.0)));
    let [l, _] = Session::new(&clap(), 48_000.0, 512).render(20 * rate, || 512, &hotter);
    let peak = l.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    eprintln!("20 s more at +12 dB: peak {peak:.4}");
    assert!(peak <= 0.966 + 1e-6 && peak > 0.9, "driven peak {peak}");
}

#[test]
fn live_latency_mode_sounds_a_frame_sooner_and_reports_it() {
    let rate = 48_000;
    let onset = |live: bool| {
        let mut s = Session::new(&clap(), 48_000.0, 256);
        let events = [
            (0, Event::Param("Mode", 1.0)),
            (0, Event::Param("Latency", if live { 1.0 } else { 0.0 })),
            (rate / 2, Event::NoteOn(48)),
        ];
        let [l, _] = s.render(rate, || 256, &events);
        let onset = l[rate / 2..].iter().position(|v| *v != 0.0).unwrap();
        (onset, s.latency() as usize)
    };
    let (smooth, smooth_reported) = onset(false);
    let (live, live_reported) = onset(true);
    eprintln!("note to sound: Smooth {smooth} samples (reported {smooth_reported}), Live {live} (reported {live_reported})");
    // The gate opens one reported latency after the note-on; the first sample out of it is
    // the envelope's first step.
    assert!(smooth.abs_diff(smooth_reported) <= 1, "Smooth: {smooth} vs {smooth_reported}");
    assert!(live.abs_diff(live_reported) <= 1, "Live: {live} vs {live_reported}");
    // One 12.5 ms frame (600 samples at 48 kHz) less.
    assert_eq!(smooth_reported - live_reported, 600);
}

/// The Voices parameter at `n`. nice-plug gives CLAP hosts a stepped parameter as its step
/// index (0 for the first value), not its plain value.
fn voices(n: usize) -> Event {
    Event::Param("Voices", (n - 1) as f64)
}

/// Renders C3, E3, G3 and C4 pressed half a second apart from 0.5 s at the velocities
/// `loud` (0 for a note that is left out), C3 released at 3 s when `release`, with `count`
/// voices and the given block sizes.
fn chord(
    loud: [f64; 4],
    release: bool,
    count: usize,
    block: &mut dyn FnMut() -> usize,
) -> Vec<f32> {
    let rate = 48_000;
    // Without the limiter, so that voices add.
    let mut events =
        vec![(0, Event::Param("Mode", 1.0)), (0, voices(count)), (0, Event::Param("Limiter", 0.0))];
    for (i, note) in [48u8, 52, 55, 60].into_iter().enumerate() {
        if loud[i] > 0.0 {
            events.push(((i + 1) * rate / 2, Event::NoteOnAt(note, loud[i])));
        }
    }
    if release {
        events.push((3 * rate, Event::NoteOff(48)));
    }
    let [l, _] = Session::new(&clap(), 48_000.0, 512).render(5 * rate, block, &events);
    l
}

/// The largest gap between `a - b` and `c`, from sample `from` on.
fn gap(a: &[f32], b: &[f32], c: &[f32], from: usize) -> f32 {
    (from..a.len()).map(|i| (a[i] - b[i] - c[i]).abs()).fold(0.0, f32::max)
}

#[test]
fn a_chord_plays_one_voice_per_note_and_a_release_leaves_the_rest() {
    let rate = 48_000;
    // A velocity 60 dB down: the note takes its voice and seed, all but silently (nice-plug
    // reads a note-on at velocity 0 as a note-off).
    let ghost = 1e-3;
    let latency = Session::new(&clap(), 48_000.0, 512).latency() as usize;
    let three = chord([1.0, 1.0, 1.0, 0.0], false, 8, &mut || 512);
    let four = chord([1.0; 4], false, 8, &mut || 512);
    let fourth_alone = chord([ghost, ghost, ghost, 1.0], false, 8, &mut || 512);
    // The fourth note adds its own voice and changes nothing else: four notes are three
    // notes plus the fourth alone, sample for sample, and it sounds from one latency after
    // its note-on.
    // (From the first note-on: before it, every render has the free voice's release.)
    let added = gap(&four, &three, &fourth_alone, rate / 2);
    let onset = four.iter().zip(&three).position(|(a, b)| a != b).unwrap();
    eprintln!("4th voice from sample {onset}; four - three - fourth alone: {added:e}; fourth alone rms {}", rms(&fourth_alone));
    assert!(onset.abs_diff(2 * rate + latency) <= 1, "the 4th voice starts at {onset}");
    assert!(
        added < 3e-3 && rms(&fourth_alone) > 1e-2,
        "four notes are not three plus one: {added}"
    );
    // With three voices the fourth note takes the oldest (C3's): no longer a sum.
    let stolen = gap(
        &chord([1.0; 4], false, 3, &mut || 512),
        &chord([1.0, 1.0, 1.0, 0.0], false, 3, &mut || 512),
        &fourth_alone,
        rate / 2,
    );
    assert!(stolen > 0.05, "three voices: the fourth note steals one ({stolen})");
    // Releasing C3 takes away exactly C3's voice once its 150 ms release is over.
    let released = chord([1.0; 4], true, 8, &mut || 512);
    let first_alone = chord([1.0, ghost, ghost, ghost], false, 8, &mut || 512);
    let after = 3 * rate + latency + rate / 5;
    let left = gap(&four, &released, &first_alone, after);
    eprintln!("released C3: held - released - C3 alone: {left:e}");
    assert!(
        left < 3e-3 && rms(&first_alone[after..]) > 1e-2,
        "the release leaves the other three ({left})"
    );
    // A bounce replays exactly, however the host cuts its blocks.
    let mut state = 99u64;
    let mut random = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        1 + (state >> 33) as usize % 512
    };
    assert!(chord([1.0; 4], true, 8, &mut random) == released, "block sizes change a chord");
}
