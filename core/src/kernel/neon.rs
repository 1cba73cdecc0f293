//! NEON kernels for aarch64. Four accumulators per row; 16-bit weights are widened to f32 in
//! registers (FCVTL for f16, a long shift for bf16), so the sums are those of the f32 kernel.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{segment, WeightRows, LANES};

#[inline(always)]
unsafe fn load4_f32(p: *const f32) -> float32x4_t {
    vld1q_f32(p)
}

#[inline(always)]
unsafe fn load4_f16(p: *const u16) -> float32x4_t {
    let half = vld1_u16(p);
    let out: float32x4_t;
    // FCVTL (half to single) is base ARMv8 Advanced SIMD; Rust's f16 vector types are not
    // stable yet, hence the one instruction by hand.
    asm!("fcvtl {o:v}.4s, {i:v}.4h", o = lateout(vreg) out, i = in(vreg) half,
         options(pure, nomem, nostack));
    out
}

#[inline(always)]
unsafe fn load4_bf16(p: *const u16) -> float32x4_t {
    vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(p)))
}

macro_rules! matvec_kernel {
    ($name:ident, $t:ty, $load:ident, $panels:literal) => {
        /// # Safety
        /// The CPU must support NEON; `m.w` holds rows `first..first + y.len()` of `stride`
        /// (a multiple of 16), and `x` at least `stride` values.
        #[target_feature(enable = "neon")]
        pub unsafe fn $name(m: WeightRows<$t>, x: &[f32], bias: &[f32], y: &mut [f32]) {
            let WeightRows { w, stride, first } = m;
            let (wp, xp) = (w.as_ptr(), x.as_ptr());
            for (i, out) in y.iter_mut().enumerate() {
                let mut acc = [vdupq_n_f32(0.0); 4];
                let mut j = 0;
                while j < stride {
                    let p = wp.add(segment($panels, stride, first + i, j / LANES));
                    for k in 0..4 {
                        let o = 4 * k;
                        acc[k] = vfmaq_f32(acc[k], $load(p.add(o)), vld1q_f32(xp.add(j + o)));
                    }
                    j += LANES;
                }
                let s = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
                *out = bias[i] + vaddvq_f32(s);
            }
        }
    };
}

matvec_kernel!(matvec_f32, f32, load4_f32, true);
matvec_kernel!(matvec_f16, u16, load4_f16, true);
matvec_kernel!(matvec_bf16, u16, load4_bf16, false);
