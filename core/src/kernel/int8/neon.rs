//! NEON kernels over the panels: a quarter block (16 bytes) is four columns of four rows,
//! so a four-byte dot product per 32-bit lane is one row's. With the dot-product extension
//! (ARMv8.2) SDOT makes it; without, SMULL / SMULL2 widen to 16 bits and two pairwise adds
//! sum each four. The stored bytes are made signed (the weight itself) by flipping their
//! top bit, so the sums need no offset.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{product, quantize_input, Dots, Rows, PANEL, QUAD, ZERO};

/// `acc + dot4(a, b)` per 32-bit lane (SDOT; its intrinsic is not stable yet).
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut out = acc;
    asm!("sdot {o:v}.4s, {a:v}.16b, {b:v}.16b", o = inout(vreg) out, a = in(vreg) a,
         b = in(vreg) b, options(pure, nomem, nostack));
    out
}

/// `acc + dot4(a, b)` per 32-bit lane without SDOT: the 16-bit products (SMULL, SMULL2),
/// each pair summed into 32 bits (SADDLP) and each two pairs (ADDP).
#[inline(always)]
unsafe fn widening_dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    let hi = vpaddlq_s16(vmull_high_s8(a, b));
    vaddq_s32(acc, vpaddq_s32(lo, hi))
}

/// A plane's four values at quad `q` of the block, in every 32-bit lane.
#[inline(always)]
unsafe fn quad(plane: &[i8], q: usize) -> int8x16_t {
    vreinterpretq_s8_s32(vdupq_n_s32(plane.as_ptr().add(q * QUAD).cast::<i32>().read_unaligned()))
}

macro_rules! dots_kernel {
    ($name:ident, $features:literal, $dot:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name(d: &Dots, y: &mut [f32]) {
            let flip = vdupq_n_u8(ZERO);
            for p in 0..d.panels() {
                let block = d.panel(p).as_ptr();
                // hi[k] and lo[k]: rows 4k..4k + 4, a lane each.
                let mut hi = [vdupq_n_s32(0); PANEL / 4];
                let mut lo = [vdupq_n_s32(0); PANEL / 4];
                for q in 0..d.cols.len() / QUAD {
                    let (h, l) = (quad(d.hi, q), quad(d.lo, q));
                    for k in 0..PANEL / 4 {
                        let w = vld1q_u8(block.add((q * PANEL + 4 * k) * QUAD));
                        let w = vreinterpretq_s8_u8(veorq_u8(w, flip));
                        hi[k] = $dot(hi[k], w, h);
                        lo[k] = $dot(lo[k], w, l);
                    }
                }
                let mut dots = [0i64; PANEL];
                for k in 0..PANEL / 4 {
                    let (mut h, mut l) = ([0i32; 4], [0i32; 4]);
                    vst1q_s32(h.as_mut_ptr(), hi[k]);
                    vst1q_s32(l.as_mut_ptr(), lo[k]);
                    for i in 0..4 {
                        dots[4 * k + i] = 256 * i64::from(h[i]) + i64::from(l[i]);
                    }
                }
                d.finish(p, &dots, y);
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
        product(m, x, bias, y, quantize_input, |d, y| dots_sdot(d, y))
    } else {
        product(m, x, bias, y, quantize_input, |d, y| dots_widening(d, y))
    }
}
