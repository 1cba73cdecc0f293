//! Seedable, allocation-free random numbers: xoshiro256++ and a Box-Muller Gaussian.
//! The same seed gives the same sequence on every run of the same build.

use crate::kernel::{ln, round_to_u32, wide};

/// Box-Muller pairs `fill_gaussian` computes at a time.
const PAIRS: usize = 16;

#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare: Option<f32>,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s =
            [splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st)];
        Rng { s, spare: None }
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 1.0) * (1.0 / (1u64 << 24) as f32)
    }

    /// Two uniforms in (0, 1] from one draw: its top 24 bits and the 24 below them.
    fn uniform_pair(&mut self) -> (f32, f32) {
        let bits = self.next_u64();
        let unit = |b: u64| ((b & 0xff_ffff) as f32 + 1.0) * (1.0 / (1u64 << 24) as f32);
        (unit(bits >> 40), unit(bits >> 16))
    }

    /// Standard normal.
    pub fn gaussian(&mut self) -> f32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let (u1, u2) = self.uniform_pair();
        let (a, b) = box_muller(u1, u2);
        self.spare = Some(b);
        a
    }

    /// Standard normals for all of `out`: the values `gaussian` gives one call at a time,
    /// computed `PAIRS` pairs at once so that the logarithms, square roots, sines and
    /// cosines run as vector arithmetic (libm's, one call each, were 8 % of a small model's
    /// step).
    pub fn fill_gaussian(&mut self, out: &mut [f32]) {
        let out = match (self.spare, out) {
            (Some(v), [first, rest @ ..]) => {
                *first = v;
                self.spare = None;
                rest
            }
            (_, out) => out,
        };
        for chunk in out.chunks_mut(2 * PAIRS) {
            let drawn = chunk.len().div_ceil(2);
            // Unused lanes of the last block hold u = 1 (ln 1 = 0): finite, then dropped.
            let (mut u1, mut u2) = ([1.0f32; PAIRS], [1.0f32; PAIRS]);
            for k in 0..drawn {
                (u1[k], u2[k]) = self.uniform_pair();
            }
            let mut values = [0.0f32; 2 * PAIRS];
            box_muller_block(&u1, &u2, &mut values);
            chunk.copy_from_slice(&values[..chunk.len()]);
            if chunk.len() % 2 == 1 {
                self.spare = Some(values[chunk.len()]);
            }
        }
    }
}

/// `box_muller` over a whole block, under `wide`: 256-bit vectors where the CPU has AVX2,
/// the same bits either way.
#[inline(always)]
fn box_muller_block(u1: &[f32; PAIRS], u2: &[f32; PAIRS], out: &mut [f32; 2 * PAIRS]) {
    wide(
        #[inline(always)]
        || each_pair(u1, u2, out),
    )
}

#[inline(always)]
fn each_pair(u1: &[f32; PAIRS], u2: &[f32; PAIRS], out: &mut [f32; 2 * PAIRS]) {
    for k in 0..PAIRS {
        (out[2 * k], out[2 * k + 1]) = box_muller(u1[k], u2[k]);
    }
}

/// Two independent standard normals from two uniforms in (0, 1]: sqrt(-2 ln u1) times the
/// cosine and the sine of 2 pi u2. Branch-free, so that a loop over pairs vectorises.
#[inline(always)]
fn box_muller(u1: f32, u2: f32) -> (f32, f32) {
    let r = (-2.0 * ln(u1)).sqrt();
    let (c, s) = turn(u2);
    (r * c, r * s)
}

/// (cos, sin) of 2 pi u for u in (0, 1]: the quarter turn u falls in, then the Taylor
/// series of the angle within it (x <= pi/2: the first terms left out are below 6e-8).
#[inline(always)]
fn turn(u: f32) -> (f32, f32) {
    let t = 4.0 * u;
    // floor(t), or one less where t is a whole number (then x = pi/2): 0 to 4, where 4
    // (u = 1) is a whole turn, as 0. Rounded from the bits, not cast, to stay vectorised.
    let quarter = round_to_u32(t - 0.5);
    let x = (t - quarter as i32 as f32) * std::f32::consts::FRAC_PI_2;
    let x2 = x * x;
    let mut s = -1.0 / 39_916_800.0f32;
    for k in [362_880.0f32, -5_040.0, 120.0, -6.0, 1.0] {
        s = s * x2 + 1.0 / k;
    }
    let mut c = 1.0 / 479_001_600.0f32;
    for k in [-3_628_800.0f32, 40_320.0, -720.0, 24.0, -2.0, 1.0] {
        c = c * x2 + 1.0 / k;
    }
    let s = s * x;
    // Rotated by the whole quarter turns: (c, s), (-s, c), (-c, -s), (s, -c).
    let (a, b) = if quarter & 1 == 0 { (c, s) } else { (s, c) };
    let cos = if (quarter + 1) & 2 == 0 { a } else { -a };
    let sin = if quarter & 2 == 0 { b } else { -b };
    (cos, sin)
}

/// A seed derived from another, for a second independent voice.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut st = seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_circle_and_box_muller_match_libm() {
        let mut worst = (0.0f32, 0.0f32);
        for i in 1..=100_000 {
            let u = i as f32 / 100_000.0;
            let (c, s) = turn(u);
            let (ls, lc) = (std::f32::consts::TAU * u).sin_cos();
            worst.0 = worst.0.max((c - lc).abs().max((s - ls).abs()));
            let (a, b) = box_muller(u, 0.3);
            let r = (-2.0 * u.ln()).sqrt();
            let (ls, lc) = (std::f32::consts::TAU * 0.3).sin_cos();
            worst.1 = worst.1.max((a - r * lc).abs().max((b - r * ls).abs()) / r.max(1.0));
        }
        // libm's own argument rounding (2 pi u in f32) is ~3e-7 near a whole turn.
        assert!(worst.0 < 1e-6 && worst.1 < 1e-6, "worst gaps {worst:?}");
    }

    #[test]
    fn filling_gives_what_single_calls_give() {
        for (len, lead) in [(0, 0), (1, 0), (7, 1), (32, 0), (33, 1), (100, 3), (1000, 0)] {
            let (mut one, mut many) = (Rng::new(9), Rng::new(9));
            let mut filled = vec![0.0f32; len];
            for _ in 0..lead {
                assert_eq!(one.gaussian(), many.gaussian());
            }
            many.fill_gaussian(&mut filled);
            let single: Vec<f32> = (0..len).map(|_| one.gaussian()).collect();
            assert_eq!(filled, single, "length {len} after {lead} single calls");
            assert_eq!(one.gaussian(), many.gaussian(), "the spare is handed on");
        }
    }

    #[test]
    fn gaussians_have_a_standard_normal_distribution() {
        let mut rng = Rng::new(5);
        let mut v = vec![0.0f32; 1 << 20];
        rng.fill_gaussian(&mut v);
        let n = v.len() as f64;
        let moment = |k: i32| v.iter().map(|&x| (x as f64).powi(k)).sum::<f64>() / n;
        let (mean, var) = (moment(1), moment(2));
        assert!(mean.abs() < 0.005 && (var - 1.0).abs() < 0.005, "mean {mean}, variance {var}");
        assert!((moment(4) - 3.0).abs() < 0.03, "kurtosis {}", moment(4));
        // Tail mass beyond 2 and 3 sigma against the normal's 4.55 % and 0.27 %.
        let beyond = |t: f32| v.iter().filter(|x| x.abs() > t).count() as f64 / n;
        assert!((beyond(2.0) - 0.0455).abs() < 0.001 && (beyond(3.0) - 0.0027).abs() < 0.0002);
    }
}
