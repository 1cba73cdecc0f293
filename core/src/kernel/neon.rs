//! NEON kernel for aarch64. Four rows per pass share each load of x.

use std::arch::aarch64::*;

/// # Safety
/// The CPU must support NEON; `w` holds `y.len()` rows of `stride` (a multiple of 16).
#[target_feature(enable = "neon")]
pub unsafe fn matvec(w: &[f32], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    for (r, out) in y.iter_mut().enumerate() {
        let p = wp.add(r * stride);
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut j = 0;
        while j < stride {
            for k in 0..4 {
                let o = j + 4 * k;
                acc[k] = vfmaq_f32(acc[k], vld1q_f32(p.add(o)), vld1q_f32(xp.add(o)));
            }
            j += 16;
        }
        let s = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
        *out = bias[r] + vaddvq_f32(s);
    }
}
