//! AVX2+FMA and AVX-512 kernels. Four rows per pass share each load of x.

use std::arch::x86_64::*;

use super::{math, Activation};

/// # Safety
/// The CPU must support AVX-512F; `w` holds `y.len()` rows of `stride` (a multiple of 16).
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512(w: &[f32], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    let rows = y.len();
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut r = 0;
    while r + 4 <= rows {
        let p = [
            wp.add(r * stride),
            wp.add((r + 1) * stride),
            wp.add((r + 2) * stride),
            wp.add((r + 3) * stride),
        ];
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut j = 0;
        while j < stride {
            let xv = _mm512_loadu_ps(xp.add(j));
            for k in 0..4 {
                acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(p[k].add(j)), xv, acc[k]);
            }
            j += 16;
        }
        for k in 0..4 {
            y[r + k] = bias[r + k] + _mm512_reduce_add_ps(acc[k]);
        }
        r += 4;
    }
    while r < rows {
        let p = wp.add(r * stride);
        let mut acc = _mm512_setzero_ps();
        let mut j = 0;
        while j < stride {
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(p.add(j)), _mm512_loadu_ps(xp.add(j)), acc);
            j += 16;
        }
        y[r] = bias[r] + _mm512_reduce_add_ps(acc);
        r += 1;
    }
}

#[inline(always)]
unsafe fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// # Safety
/// The CPU must support AVX2 and FMA; `w` holds `y.len()` rows of `stride` (a multiple of 16).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matvec_avx2(w: &[f32], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    let rows = y.len();
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut r = 0;
    while r + 4 <= rows {
        let p = [
            wp.add(r * stride),
            wp.add((r + 1) * stride),
            wp.add((r + 2) * stride),
            wp.add((r + 3) * stride),
        ];
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = 0;
        while j < stride {
            let xv = _mm256_loadu_ps(xp.add(j));
            for k in 0..4 {
                acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p[k].add(j)), xv, acc[k]);
            }
            j += 8;
        }
        for k in 0..4 {
            y[r + k] = bias[r + k] + hsum256(acc[k]);
        }
        r += 4;
    }
    while r < rows {
        let p = wp.add(r * stride);
        let mut acc = _mm256_setzero_ps();
        let mut j = 0;
        while j < stride {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(j)), _mm256_loadu_ps(xp.add(j)), acc);
            j += 8;
        }
        y[r] = bias[r] + hsum256(acc);
        r += 1;
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn activate_avx2(act: Activation, xs: &mut [f32]) {
    math::apply(act, xs)
}

/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn activate_avx512(act: Activation, xs: &mut [f32]) {
    math::apply(act, xs)
}
