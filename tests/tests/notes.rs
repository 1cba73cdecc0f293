//! CLAP note ids through the real `VRNN Synth.clap` in clack-host: note-offs by id (two
//! notes on one key), note-end events when a voice falls silent, and polyphonic modulation
//! of Temperature per note. The bundle is built with assert_process_allocs: an allocation in
//! process() aborts this binary.

use std::path::PathBuf;

use vrnn_tests::bundled;
use vrnn_tests::clap_host::{Event, NoteEnd, Session};

const RATE: usize = 48_000;

fn clap() -> PathBuf {
    bundled("VRNN Synth.clap")
}

/// MIDI mode, the limiter off (so that voices add), then `events`; `seconds` of the left
/// channel, and the note ends the plugin sent.
fn render(seconds: f64, events: &[(usize, Event)]) -> (Vec<f32>, Vec<NoteEnd>) {
    let mut all = vec![(0, Event::Param("Mode", 1.0)), (0, Event::Param("Limiter", 0.0))];
    all.extend_from_slice(events);
    let mut s = Session::new(&clap(), RATE as f64, 512);
    let [l, _] = s.render((seconds * RATE as f64) as usize, || 256, &all);
    (l, std::mem::take(&mut s.note_ends))
}

/// The largest gap between `a - b` and `c - d`.
fn gap(a: &[f32], b: &[f32], c: &[f32], d: &[f32]) -> f32 {
    (0..a.len()).map(|i| (a[i] - b[i] - (c[i] - d[i])).abs()).fold(0.0, f32::max)
}

#[test]
fn a_note_off_by_id_releases_that_note_only_and_its_end_is_reported() {
    let latency = Session::new(&clap(), RATE as f64, 512).latency() as usize;
    let (on, off) = (RATE / 2, RATE);
    // Two notes stacked on one key (a host's voice stacking), then a third released by key.
    let events = [
        (on, Event::NoteOnId(48, 1)),
        (on, Event::NoteOnId(48, 2)),
        (on, Event::NoteOn(55)),
        (off, Event::NoteOffId(48, 1)),
        (2 * RATE, Event::NoteOff(55)),
    ];
    let (out, ends) = render(3.0, &events);
    eprintln!("note ends: {ends:?}; latency {latency}");
    assert!(out.iter().all(|v| v.is_finite()));
    let id = |i| ends.iter().find(|e| e.id == Some(i)).copied();
    let first = id(1).expect("note 1 ended");
    assert_eq!(first.key, Some(48));
    // The gate closes one latency after the note-off; the 150 ms release takes 7200 samples.
    let silent = off + latency + 7_200;
    assert!(first.at.abs_diff(silent as u64) <= 2, "note 1 ended at {}, not {silent}", first.at);
    assert!(id(2).is_none(), "note 2 on the same key is still held");
    let by_key = ends.iter().find(|e| e.key == Some(55)).expect("the key-released note ended");
    assert_eq!(by_key.id, None, "a note without an id ends without one");
    assert!(by_key.at.abs_diff((2 * RATE + latency + 7_200) as u64) <= 2);
    assert_eq!(ends.len(), 2, "{ends:?}");
}

#[test]
fn temperature_is_modulated_per_note() {
    let on = RATE / 2;
    // nice-plug hands CLAP hosts normalised values: 0.4 of Temperature's 0-2 range is +0.8.
    let note = |id, key| (on, Event::NoteOnId(key, id));
    let modulate = |id| (on, Event::PolyMod("Temperature", id, 0.4));
    let (plain, _) = render(2.0, &[note(1, 48)]);
    let (modulated, _) = render(2.0, &[note(1, 48), modulate(1)]);
    let (set, _) = render(2.0, &[(0, Event::Param("Temperature", 0.9)), note(1, 48)]);
    assert!(modulated != plain, "the modulation changes the note");
    // From its first step the modulated note is the note played at that temperature.
    // (From the note-on: before it the free voice's release differs, at 1.8.)
    let diff =
        modulated[on..].iter().zip(&set[on..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 1e-6, "modulated +0.8 vs Temperature at 1.8: {diff}");
    // In a chord, only the modulated note changes: the chord's difference is that note's.
    let chord = [note(1, 48), note(2, 55)];
    let (unmodulated, _) = render(2.0, &chord);
    let (second, _) = render(2.0, &[chord[0].clone(), chord[1].clone(), modulate(2)]);
    let (elsewhere, _) = render(2.0, &[chord[0].clone(), chord[1].clone(), modulate(7)]);
    assert!(elsewhere == unmodulated, "modulation of a note that is not playing changes nothing");
    // The same two notes with the first played at a velocity 60 dB down: the second alone.
    let ghost = |id, key| (on, Event::NoteOnAtId(key, id, 1e-3));
    let (alone, _) = render(2.0, &[ghost(1, 48), note(2, 55)]);
    let (alone_modulated, _) = render(2.0, &[ghost(1, 48), note(2, 55), modulate(2)]);
    let g = gap(&second, &unmodulated, &alone_modulated, &alone);
    eprintln!("chord change vs the second note's own change: {g:e}");
    assert!(second != unmodulated && g < 3e-3, "the first note changed too: {g}");
}
