//! AVX2+FMA(+F16C) and AVX-512 kernels. Four rows per pass share each load of x; 16-bit
//! weights are widened to f32 in registers (F16C / AVX-512F conversion for f16, a shift for
//! bf16, which is the upper half of an f32), so the sums are those of the f32 kernel.

use std::arch::x86_64::*;

use super::{math, Activation};

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load16_f32(p: *const f32) -> __m512 {
    _mm512_loadu_ps(p)
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load16_f16(p: *const u16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()))
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load16_bf16(p: *const u16) -> __m512 {
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
        p.cast(),
    ))))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load8_f32(p: *const f32) -> __m256 {
    _mm256_loadu_ps(p)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load8_f16(p: *const u16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load8_bf16(p: *const u16) -> __m256 {
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast()))))
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn hsum512(v: __m512) -> f32 {
    _mm512_reduce_add_ps(v)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// One kernel per (instruction set, weight type): the loop is the same, the loads differ.
macro_rules! matvec_kernel {
    ($name:ident, $features:literal, $t:ty, $lanes:literal,
     $load:ident, $loadx:ident, $zero:ident, $fma:ident, $hsum:ident) => {
        /// # Safety
        #[doc = concat!("The CPU must support ", $features, "; `w` holds `y.len()` rows of")]
        /// `stride` (a multiple of 16), and `x` at least `stride` values.
        #[target_feature(enable = $features)]
        pub unsafe fn $name(w: &[$t], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
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
                let mut acc = [$zero(); 4];
                let mut j = 0;
                while j < stride {
                    let xv = $loadx(xp.add(j));
                    for k in 0..4 {
                        acc[k] = $fma($load(p[k].add(j)), xv, acc[k]);
                    }
                    j += $lanes;
                }
                for k in 0..4 {
                    y[r + k] = bias[r + k] + $hsum(acc[k]);
                }
                r += 4;
            }
            while r < rows {
                let p = wp.add(r * stride);
                let mut acc = $zero();
                let mut j = 0;
                while j < stride {
                    acc = $fma($load(p.add(j)), $loadx(xp.add(j)), acc);
                    j += $lanes;
                }
                y[r] = bias[r] + $hsum(acc);
                r += 1;
            }
        }
    };
}

matvec_kernel!(
    matvec_avx512_f32,
    "avx512f",
    f32,
    16,
    load16_f32,
    load16_f32,
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    hsum512
);
matvec_kernel!(
    matvec_avx512_f16,
    "avx512f",
    u16,
    16,
    load16_f16,
    load16_f32,
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    hsum512
);
matvec_kernel!(
    matvec_avx512_bf16,
    "avx512f",
    u16,
    16,
    load16_bf16,
    load16_f32,
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    hsum512
);
matvec_kernel!(
    matvec_avx2_f32,
    "avx2,fma,f16c",
    f32,
    8,
    load8_f32,
    load8_f32,
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    hsum256
);
matvec_kernel!(
    matvec_avx2_f16,
    "avx2,fma,f16c",
    u16,
    8,
    load8_f16,
    load8_f32,
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    hsum256
);
matvec_kernel!(
    matvec_avx2_bf16,
    "avx2,fma,f16c",
    u16,
    8,
    load8_bf16,
    load8_f32,
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    hsum256
);

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
