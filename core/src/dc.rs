//! DC offset removal before analysis. Cheap interfaces and some recorders add a constant
//! offset; analysed as it is, it lands in the lowest envelope band as a loud rumble the
//! model then learns and plays (a hnm analysis-synthesis of a voice with an offset of 0.03
//! came out 2.4 dB further from the voice and 0.59 voiced instead of 0.75). A one-pole
//! high-pass at DC_CUTOFF_HZ removes it, offline (the trainer's recordings) and live (the
//! Listener's input), and leaves everything audible (-0.2 dB at 50 Hz).

use std::f64::consts::TAU;

/// The high-pass's -3 dB point: -1 dB at 20 Hz, -0.2 dB at 50 Hz; an offset decays with a
/// time constant of 16 ms.
pub const DC_CUTOFF_HZ: f64 = 10.0;

/// Samples whose mean `remove_dc` starts from, in seconds.
const SETTLE_SECONDS: f64 = 0.1;

/// y[n] = x[n] - x[n-1] + pole y[n-1]: a zero at DC and a pole just inside it.
#[derive(Clone, Debug)]
pub struct DcBlocker {
    pole: f32,
    previous: f32,
    output: f32,
}

impl DcBlocker {
    pub fn new(sample_rate: u32) -> DcBlocker {
        let pole = (-TAU * DC_CUTOFF_HZ / sample_rate as f64).exp() as f32;
        DcBlocker { pole, previous: 0.0, output: 0.0 }
    }

    /// Starts over as if the input had stood at `level` forever (no step at the start).
    pub fn settle(&mut self, level: f32) {
        self.previous = level;
        self.output = 0.0;
    }

    /// Starts over from silence.
    pub fn reset(&mut self) {
        self.settle(0.0);
    }

    #[inline]
    pub fn next(&mut self, x: f32) -> f32 {
        let y = x - self.previous + self.pole * self.output;
        self.previous = x;
        // The tail of a decay after the input falls silent would turn denormal (slow).
        self.output = if y.abs() < 1e-30 { 0.0 } else { y };
        self.output
    }
}

/// Removes a whole recording's DC offset in place, the filter settled at the mean of its
/// first SETTLE_SECONDS so that an offset leaves no step at the start.
pub fn remove_dc(signal: &mut [f32], sample_rate: u32) {
    let settle = ((SETTLE_SECONDS * sample_rate as f64) as usize).clamp(1, signal.len().max(1));
    let Some(start) = signal.get(..settle) else {
        return;
    };
    let mut blocker = DcBlocker::new(sample_rate);
    blocker.settle(start.iter().sum::<f32>() / settle as f32);
    for v in signal {
        *v = blocker.next(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn sine(hz: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * RATE as f64) as usize;
        (0..n).map(|i| (TAU * hz * i as f64 / RATE as f64).sin() as f32).collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// The filter's gain at `hz` in dB, from the second half of a 2 s sine.
    fn gain_db(hz: f64) -> f64 {
        let x = sine(hz, 2.0);
        let mut y = x.clone();
        remove_dc(&mut y, RATE);
        let half = x.len() / 2;
        20.0 * (rms(&y[half..]) / rms(&x[half..])).log10()
    }

    #[test]
    fn an_offset_is_gone_and_what_is_heard_stays() {
        let x = sine(100.0, 1.0);
        let mut shifted: Vec<f32> = x.iter().map(|v| v + 0.3).collect();
        remove_dc(&mut shifted, RATE);
        let mut plain = x.clone();
        remove_dc(&mut plain, RATE);
        // Linear: the offset changes nothing but rounding, from the first sample on.
        let worst = shifted.iter().zip(&plain).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "offset left: {worst}");
        let mean = plain[RATE as usize / 2..].iter().sum::<f32>() / (RATE / 2) as f32;
        assert!(mean.abs() < 1e-3, "mean {mean}");
        assert!((gain_db(DC_CUTOFF_HZ) + 3.0).abs() < 0.1, "{} dB", gain_db(DC_CUTOFF_HZ));
        for hz in [50.0, 100.0, 1000.0, 7000.0] {
            assert!(gain_db(hz) > -0.2, "{hz} Hz: {} dB", gain_db(hz));
        }
    }

    #[test]
    fn a_live_offset_decays_and_silence_stays_exact_zero() {
        let mut blocker = DcBlocker::new(RATE);
        let step: Vec<f32> = (0..RATE).map(|_| blocker.next(0.5)).collect();
        assert_eq!(step[0], 0.5, "unsettled, the offset arrives as a step");
        assert!(step[(RATE / 10) as usize].abs() < 0.5 * 2e-3, "decayed in 0.1 s");
        let tail: Vec<f32> = (0..20 * RATE).map(|_| blocker.next(0.0)).collect();
        assert!(tail.iter().all(|v| *v == 0.0 || v.abs() >= 1e-30), "no denormals");
        assert_eq!(*tail.last().unwrap(), 0.0);
        blocker.reset();
        assert_eq!(blocker.next(0.25), 0.25);
    }
}
