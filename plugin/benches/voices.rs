//! What polyphony costs the audio thread: the built-in voice's engine at 48 kHz in 64-sample
//! callbacks, one note against eight held at once (notes a semitone apart, started 10 ms
//! apart), after two seconds of warm-up. Prints each callback's time (median, p99, max,
//! mean) in one run and as each callback's fastest of five replays, and the total for 8
//! voices over 1 voice, measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use criterion::Criterion;
use vrnn_core::Model;
use vrnn_plugin::engine::{Controls, Engine, Note, Player};

const RATE: f64 = 48_000.0;
const BLOCK: usize = 64;

fn player(notes: usize) -> Player {
    let model = Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()));
    let engine = Engine::new(model, "built-in".into(), RATE, 0).unwrap();
    // Nothing is swapped here, so nothing is ever sent to the dropper.
    let (tx, _) = crossbeam_channel::unbounded();
    let mut p = Player::new(Box::new(engine), tx, 0, true);
    p.set_polyphony(notes);
    let c = controls();
    for n in 0..notes {
        p.note_on(Note::key(48 + n as u8), 1.0);
        for _ in 0..480 {
            p.next(&c);
        }
    }
    for _ in 0..(2.0 * RATE) as usize {
        p.next(&c);
    }
    p
}

fn controls() -> Controls {
    Controls { temperature: 1.0, noise: 1.0, gain: 1.0, width: 0.0, formant: 1.0, follow: 0.0 }
}

/// Seconds per callback over `seconds` of audio.
fn callbacks(p: &mut Player, seconds: f64) -> Vec<f64> {
    let c = controls();
    let mut out = [0.0f32; BLOCK];
    (0..(seconds * RATE) as usize / BLOCK)
        .map(|_| {
            let t = Instant::now();
            for s in out.iter_mut() {
                *s = p.next(&c).0;
            }
            std::hint::black_box(&out);
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Replays of the same (deterministic) run: each callback's fastest replay is its own cost,
/// without what the OS took from it in one of them.
const REPLAYS: usize = 5;

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut rows = Vec::new();
    for notes in [1, 8] {
        let mut p = player(notes);
        c.bench_function(&format!("callback_64/{notes}_voices"), |b| {
            b.iter(|| callbacks(&mut p, 0.05))
        });
        let runs: Vec<Vec<f64>> =
            (0..REPLAYS).map(|_| callbacks(&mut player(notes), 10.0)).collect();
        let mut single = runs[0].clone();
        let mut fastest: Vec<f64> =
            (0..single.len()).map(|i| runs.iter().map(|r| r[i]).fold(f64::MAX, f64::min)).collect();
        rows.push((notes, summary(&mut single), summary(&mut fastest)));
    }
    let budget = BLOCK as f64 / RATE * 1e6;
    println!("\n| voices | callbacks | median us | p99 us | max us | mean us | max / mean |");
    println!("|---|---|---|---|---|---|---|");
    for (n, single, fastest) in &rows {
        for (label, s) in [("one run", single), ("fastest of 5", fastest)] {
            println!(
                "| {n} | {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |",
                s.median,
                s.p99,
                s.max,
                s.mean,
                s.max / s.mean
            );
        }
    }
    println!(
        "\n8 voices / 1 voice, total: {:.2}x (fastest of 5: {:.2}x); a 64-sample callback \
         lasts {budget:.0} us",
        rows[1].1.mean / rows[0].1.mean,
        rows[1].2.mean / rows[0].2.mean
    );
}

struct Summary {
    median: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// Microseconds.
fn summary(times: &mut [f64]) -> Summary {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize] * 1e6;
    let mean = times.iter().sum::<f64>() / times.len() as f64 * 1e6;
    Summary { median: at(0.5), p99: at(0.99), max: at(1.0), mean }
}
