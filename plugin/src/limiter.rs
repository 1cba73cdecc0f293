//! The last thing before the host: a stereo-linked peak limiter with no latency (the gain
//! drops at once to what keeps a peak under the ceiling and recovers over the release), and
//! a guard that nothing non-finite leaves the plugin. Below the ceiling the gain is exactly
//! 1, so a voice that never peaks passes bit for bit.

/// -0.3 dBFS: a little room for the peaks a converter's reconstruction adds between samples.
pub const CEILING: f32 = 0.966;
const RELEASE_SECONDS: f32 = 0.050;

pub struct Limiter {
    gain: f32,
    /// Per-sample pull of the gain back toward 1.
    release: f32,
}

impl Limiter {
    pub fn new(rate: f32) -> Limiter {
        Limiter { gain: 1.0, release: (-1.0 / (RELEASE_SECONDS * rate)).exp() }
    }

    pub fn reset(&mut self) {
        self.gain = 1.0;
    }

    /// The next stereo sample, limited when `on`; non-finite samples become silence either
    /// way.
    pub fn next(&mut self, (l, r): (f32, f32), on: bool) -> (f32, f32) {
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (l, r) = (finite(l), finite(r));
        if !on {
            return (l, r);
        }
        let peak = l.abs().max(r.abs());
        let needed = if peak > CEILING { CEILING / peak } else { 1.0 };
        self.gain =
            if needed < self.gain { needed } else { needed + (self.gain - needed) * self.release };
        // Within 0.001 dB of unity: unity, so that quiet audio passes bit for bit again.
        if self.gain > 1.0 - 1e-4 {
            self.gain = 1.0;
        }
        let clamp = |v: f32| (v * self.gain).clamp(-CEILING, CEILING);
        (clamp(l), clamp(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_audio_passes_unchanged_and_peaks_stay_under_the_ceiling() {
        let mut lim = Limiter::new(48_000.0);
        for i in 0..1000 {
            let x = 0.5 * (i as f32 * 0.01).sin();
            assert_eq!(lim.next((x, -x), true), (x, -x));
        }
        let mut worst = 0.0f32;
        for i in 0..48_000 {
            let x = 4.0 * (i as f32 * 0.03).sin();
            let (l, r) = lim.next((x, x * 0.5), true);
            worst = worst.max(l.abs()).max(r.abs());
        }
        assert!(worst <= CEILING, "peak {worst}");
        // The gain recovers: 0.5 s of a quiet signal later, unity again.
        for _ in 0..24_000 {
            lim.next((0.1, 0.1), true);
        }
        assert_eq!(lim.next((0.1, 0.1), true), (0.1, 0.1));
    }

    #[test]
    fn nothing_non_finite_gets_out_even_with_the_limiter_off() {
        let mut lim = Limiter::new(48_000.0);
        for on in [true, false] {
            for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let (l, r) = lim.next((v, 0.2), on);
                assert!(l == 0.0 && r.is_finite(), "{v} with the limiter {on}");
            }
        }
    }
}
