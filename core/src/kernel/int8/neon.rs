//! NEON kernels. With the dot-product extension (ARMv8.2) SDOT sums each four byte
//! products into 32 bits; without it, SMULL / SMLAL2 widen to 16 bits and SADALP sums pairs
//! into 32. The stored bytes are made signed (the weight itself) by flipping their top bit.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{accumulate, product, Dots, Rows, ZERO};

/// `acc + dot4(a, b)` per 32-bit lane (SDOT; its intrinsic is not stable yet).
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut out = acc;
    asm!("sdot {o:v}.4s, {a:v}.16b, {b:v}.16b", o = inout(vreg) out, a = in(vreg) a,
         b = in(vreg) b, options(pure, nomem, nostack));
    out
}

/// `acc + dot4(a, b)` per 32-bit lane without SDOT: the 16-bit products (SMULL, SMULL2)
/// summed pairwise into 32 bits (SADALP).
#[inline(always)]
unsafe fn widening_dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vpadalq_s16(vpadalq_s16(acc, lo), hi)
}

macro_rules! dots_kernel {
    ($name:ident, $features:literal, $dot:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name(d: &Dots, y: &mut [f32]) {
            let flip = vdupq_n_u8(ZERO);
            let (hp, lp) = (d.hi.as_ptr(), d.lo.as_ptr());
            for (r, out) in y.iter_mut().enumerate() {
                let p = d.row(r).as_ptr();
                let (mut hi, mut lo) = (vdupq_n_s32(0), vdupq_n_s32(0));
                let mut j = 0;
                while j < d.cols.len() {
                    let w = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p.add(j)), flip));
                    hi = $dot(hi, w, vld1q_s8(hp.add(j)));
                    lo = $dot(lo, w, vld1q_s8(lp.add(j)));
                    j += 16;
                }
                // The weights themselves (not their stored bytes): no offset to remove.
                let dot = 256 * i64::from(vaddvq_s32(hi)) + i64::from(vaddvq_s32(lo));
                accumulate(out, d.scale(r), d.sx, dot);
            }
        }
    };
}

dots_kernel!(dots_sdot, "neon,dotprod", sdot);
dots_kernel!(dots_widening, "neon", widening_dot);

/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn matvec(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    if std::arch::is_aarch64_feature_detected!("dotprod") {
        product(m, x, bias, y, |d, y| dots_sdot(d, y))
    } else {
        product(m, x, bias, y, |d, y| dots_widening(d, y))
    }
}
