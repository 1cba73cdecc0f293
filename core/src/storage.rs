//! Which format a half-precision model's weights are held in. 16-bit weights halve the
//! bytes a step reads, but a CPU whose widening of them is slow (AMD Zen 1 runs F16C's
//! conversion at about half the f32 kernel's rate, measured in docs/performance.md) plays
//! the same values faster held as f32 while they fit its caches. Where the instruction
//! set's 16-bit kernel sums exactly as its f32 kernel does (`Isa::widens_exactly`) the two
//! give the same frames bit for bit, so the faster one is chosen by timing both here, at
//! load: only the speed depends on the outcome.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Generator, Isa, Model, Precision};

/// Alternating timed rounds per format; each format keeps its fastest.
const ROUNDS: usize = 5;
/// About how long one round runs, so that small models are timed over many steps.
const ROUND: Duration = Duration::from_micros(500);
/// How much faster widened weights must play to be kept: a little, so that timing noise
/// does not double the memory of a model that plays as fast in 16 bits.
const MARGIN: f64 = 0.98;

/// `narrow` (weights in their own 16-bit format), or the same model widened to f32 by
/// `widened` where that plays a step faster on this CPU.
pub(crate) fn choose(narrow: Model, widened: impl FnOnce() -> Model) -> Model {
    let isa = Isa::detect();
    if narrow.precision == Precision::F32 || !isa.widens_exactly(narrow.precision) {
        return narrow;
    }
    let models = [Arc::new(narrow), Arc::new(widened())];
    let [narrow_time, wide_time] = fastest_steps(&models, isa);
    let [narrow, wide] = models.map(|m| Arc::into_inner(m).expect("no generator is left"));
    if wide_time < MARGIN * narrow_time {
        wide
    } else {
        narrow
    }
}

/// Each model's fastest time per generation step, over alternating rounds.
fn fastest_steps(models: &[Arc<Model>; 2], isa: Isa) -> [f64; 2] {
    let mut generators = models.each_ref().map(|m| Generator::with_isa(m.clone(), 0, isa));
    let mut step = |g: &mut Generator| {
        black_box(g.step(1.0, 1.0));
    };
    let t = Instant::now();
    generators.iter_mut().for_each(&mut step);
    let once = t.elapsed().max(Duration::from_nanos(1));
    let steps = (ROUND.as_secs_f64() / once.as_secs_f64()).clamp(1.0, 256.0) as usize;
    let mut best = [f64::INFINITY; 2];
    for _ in 0..ROUNDS {
        for (g, b) in generators.iter_mut().zip(&mut best) {
            let t = Instant::now();
            (0..steps).for_each(|_| step(g));
            *b = b.min(t.elapsed().as_secs_f64() / steps as f64);
        }
    }
    best
}
