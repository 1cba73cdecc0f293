//! Branch-free f32 exp, sigmoid, tanh and softplus, accurate to 1e-6 relative, written so
//! that the compiler vectorises them inside `apply` for each instruction set.

use super::Activation;

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that n * LN2_HI is exact (Cody-Waite reduction).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// 1.5 * 2^23: adding it to a float of magnitude below 2^22 and taking it away again
/// rounds that float to the nearest integer (ties to even), with no rounding instruction.
const ROUNDER: f32 = 12_582_912.0;

/// `y.round_ties_even()` for |y| < 2^22 (NaN and infinities pass through). Baseline x86-64
/// has no rounding instruction (SSE4.1's), so the library call `rintf` would run instead,
/// element by element, outside the vectorised loops.
#[inline(always)]
pub(crate) fn round_small(y: f32) -> f32 {
    (y + ROUNDER) - ROUNDER
}

/// `y.floor()` for |y| < 2^22, for the same reason (`floorf`).
#[inline(always)]
fn floor_small(y: f32) -> f32 {
    let r = round_small(y);
    if r > y {
        r - 1.0
    } else {
        r
    }
}

/// e^x for x in [-87, 88] (clamped outside: the result then stays finite).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = floor_small(x * LOG2E + 0.5);
    let r = x - n * LN2_HI - n * LN2_LO;
    // Minimax polynomial for e^r on |r| <= ln(2)/2 (Cephes expf).
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * pow2(n)
}

/// 2^n for an integer-valued n in [-126, 127], made from its bits. `n as i32` would be the
/// same number, but Rust's float-to-int cast saturates and maps NaN to 0, which compilers
/// emit as a scalar convert, compare and select per element: it kept every activation loop
/// from vectorising (a third of an LSTM 64->256 cell's gate update went there).
#[inline(always)]
fn pow2(n: f32) -> f32 {
    f32::from_bits(round_to_u32(n + 127.0) << 23)
}

/// round(y) (ties to even) for -0.5 < y < 2^22 as an integer: y + 1.5 * 2^23 holds it in its
/// low mantissa bits. No float-to-int cast, so a loop that calls it stays vectorised.
#[inline(always)]
pub(crate) fn round_to_u32(y: f32) -> u32 {
    (y + ROUNDER).to_bits().wrapping_sub(ROUNDER.to_bits())
}

/// round(y) (ties to even) for |y| < 2^22 as an integer, the same way (the sum's exponent
/// is that of 2^23 throughout, so its bits move by one per integer either side).
#[inline(always)]
pub(crate) fn round_to_i32(y: f32) -> i32 {
    round_to_u32(y) as i32
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Near zero 1 - 2/(e^2a + 1) cancels; the Taylor series to x^15 is exact to 1e-8 there.
    let a2 = a * a;
    let mut p = -929_569.0 / 638_512_875.0_f32;
    p = p * a2 + 21_844.0 / 6_081_075.0;
    p = p * a2 - 1_382.0 / 155_925.0;
    p = p * a2 + 62.0 / 2_835.0;
    p = p * a2 - 17.0 / 315.0;
    p = p * a2 + 2.0 / 15.0;
    p = p * a2 - 1.0 / 3.0;
    let small = a + a * a2 * p;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let t = if a < 0.5 { small } else { large };
    t.copysign(x)
}

/// log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), stable for large |x|.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + ln_1p_unit(exp(-x.abs()))
}

/// ln x for positive normal x (zero, subnormals, infinities and NaN are not handled): x =
/// 2^n m with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m - 1) / (m + 1)) with |s| < 0.18.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let n = ((bits >> 23) as i32 - 127) as f32;
    let (m, n) = if m > std::f32::consts::SQRT_2 { (m * 0.5, n + 1.0) } else { (m, n) };
    n * LN2_HI + (two_atanh((m - 1.0) / (m + 1.0)) + n * LN2_LO)
}

/// log(1 + e) for e in [0, 1], as 2 atanh(s) with s = e / (2 + e) in [0, 1/3]: no
/// cancellation for small e.
#[inline(always)]
fn ln_1p_unit(e: f32) -> f32 {
    two_atanh(e / (2.0 + e))
}

/// 2 atanh(s) for |s| <= 1/3 by its odd series to s^13, within 2e-8 of it.
#[inline(always)]
fn two_atanh(s: f32) -> f32 {
    let s2 = s * s;
    let mut p = 1.0 / 13.0_f32;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    p = p * s2 + 1.0;
    2.0 * s * p
}

#[inline(always)]
pub fn apply(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = sigmoid(*x)),
        Activation::Tanh => xs.iter_mut().for_each(|x| *x = tanh(*x)),
        Activation::Softplus => xs.iter_mut().for_each(|x| *x = softplus(*x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_from_bits_match_the_cast() {
        for n in -126..=127 {
            let want = f32::from_bits(((n + 127) as u32) << 23);
            assert_eq!(pow2(n as f32).to_bits(), want.to_bits(), "2^{n}");
        }
    }

    #[test]
    fn rounding_without_instructions_matches_std() {
        let mut ys: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.25).collect();
        ys.extend([0.49999997, -0.49999997, 4_194_303.5, -4_194_303.5, 1e-40, -0.0, 2.5e6]);
        for y in ys {
            assert_eq!(round_small(y), y.round_ties_even(), "round({y})");
            assert_eq!(floor_small(y), y.floor(), "floor({y})");
            assert_eq!(round_to_i32(y), y.round_ties_even() as i32, "round({y}) as i32");
        }
    }
}
