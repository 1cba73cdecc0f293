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

/// The sums of four rows' accumulators as one vector, by a transposing tree of adds (three
/// vector adds for all four rows instead of a reduction each). The tree is the same for
/// every row and a row's sum uses only its own accumulator, so a row sums alike with any
/// rows beside it: the one-row tail passes its accumulator four times.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn sum4_512(a: [__m512; 4]) -> __m128 {
    let pd = _mm512_castps_pd;
    let s01 = _mm512_add_ps(_mm512_unpacklo_ps(a[0], a[1]), _mm512_unpackhi_ps(a[0], a[1]));
    let s23 = _mm512_add_ps(_mm512_unpacklo_ps(a[2], a[3]), _mm512_unpackhi_ps(a[2], a[3]));
    // Each 128-bit lane now holds partial sums of rows 0, 1, 2, 3, in that order.
    let s = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(pd(s01), pd(s23))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(pd(s01), pd(s23))),
    );
    let h = _mm256_add_ps(
        _mm512_castps512_ps256(s),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(s))),
    );
    _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h))
}

/// `sum4_512` for 256-bit accumulators.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn sum4_256(a: [__m256; 4]) -> __m128 {
    let pd = _mm256_castps_pd;
    let s01 = _mm256_add_ps(_mm256_unpacklo_ps(a[0], a[1]), _mm256_unpackhi_ps(a[0], a[1]));
    let s23 = _mm256_add_ps(_mm256_unpacklo_ps(a[2], a[3]), _mm256_unpackhi_ps(a[2], a[3]));
    let s = _mm256_add_ps(
        _mm256_castpd_ps(_mm256_unpacklo_pd(pd(s01), pd(s23))),
        _mm256_castpd_ps(_mm256_unpackhi_pd(pd(s01), pd(s23))),
    );
    _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s))
}

/// Stores `bias + sums` for rows `r..r + 4`, or for row `r` alone (the sums' first lane).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn store_rows(sums: __m128, bias: &[f32], y: &mut [f32], r: usize, four: bool) {
    if four {
        let b = _mm_loadu_ps(bias[r..r + 4].as_ptr());
        _mm_storeu_ps(y[r..r + 4].as_mut_ptr(), _mm_add_ps(b, sums));
    } else {
        y[r] = bias[r] + _mm_cvtss_f32(sums);
    }
}

/// One kernel per (instruction set, weight type): the loop is the same, the loads differ.
/// Each pass covers 16 columns as `$per` vectors of `$lanes`, with an accumulator per
/// vector and row, so that enough independent FMA chains are in flight.
macro_rules! matvec_kernel {
    ($name:ident, $features:literal, $t:ty, $lanes:literal, $per:literal,
     $load:ident, $loadx:ident, $zero:ident, $fma:ident, $add:ident, $sum4:ident) => {
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
                let mut acc = [$zero(); 4 * $per];
                let mut j = 0;
                while j < stride {
                    for h in 0..$per {
                        let xv = $loadx(xp.add(j + h * $lanes));
                        for k in 0..4 {
                            let w = $load(p[k].add(j + h * $lanes));
                            acc[k * $per + h] = $fma(w, xv, acc[k * $per + h]);
                        }
                    }
                    j += 16;
                }
                let sums = std::array::from_fn(|k| {
                    let row = &acc[k * $per..(k + 1) * $per];
                    row[1..].iter().fold(row[0], |s, a| $add(s, *a))
                });
                store_rows($sum4(sums), bias, y, r, true);
                r += 4;
            }
            while r < rows {
                let p = wp.add(r * stride);
                let mut acc = [$zero(); $per];
                let mut j = 0;
                while j < stride {
                    for h in 0..$per {
                        let o = j + h * $lanes;
                        acc[h] = $fma($load(p.add(o)), $loadx(xp.add(o)), acc[h]);
                    }
                    j += 16;
                }
                let sum = acc[1..].iter().fold(acc[0], |s, a| $add(s, *a));
                store_rows($sum4([sum; 4]), bias, y, r, false);
                r += 1;
            }
        }
    };
}

#[rustfmt::skip]
mod kernels {
    use super::*;
    matvec_kernel!(matvec_avx512_f32, "avx512f", f32, 16, 1, load16_f32, load16_f32, _mm512_setzero_ps, _mm512_fmadd_ps, _mm512_add_ps, sum4_512);
    matvec_kernel!(matvec_avx512_f16, "avx512f", u16, 16, 1, load16_f16, load16_f32, _mm512_setzero_ps, _mm512_fmadd_ps, _mm512_add_ps, sum4_512);
    matvec_kernel!(matvec_avx2_f32, "avx2,fma,f16c", f32, 8, 2, load8_f32, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_add_ps, sum4_256);
    matvec_kernel!(matvec_avx2_f16, "avx2,fma,f16c", u16, 8, 2, load8_f16, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_add_ps, sum4_256);
    matvec_kernel!(matvec_avx2_bf16, "avx2,fma,f16c", u16, 8, 2, load8_bf16, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_add_ps, sum4_256);
}
pub use kernels::*;

/// bf16 rows with no conversion instruction: a 512-bit load holds 32 weights as 16 pairs;
/// shifting each 32-bit lane left by 16 gives the even-column weights as f32, masking off
/// its low half the odd ones. x is split into even and odd columns once per 32 columns and
/// shared by four rows.
///
/// # Safety
/// The CPU must support AVX-512F; `w` holds `y.len()` rows of `stride` (a multiple of 16),
/// and `x` at least `stride` values.
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512_bf16(w: &[u16], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let high = _mm512_set1_epi32(0xFFFF_0000_u32 as i32);
    let pairs = stride / 32 * 32;
    let rows = y.len();
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut r = 0;
    while r < rows {
        // Four rows per pass, then one at a time.
        let n = if r + 4 <= rows { 4 } else { 1 };
        let mut acc_even = [_mm512_setzero_ps(); 4];
        let mut acc_odd = [_mm512_setzero_ps(); 4];
        let mut j = 0;
        while j < pairs {
            let (x0, x1) = (_mm512_loadu_ps(xp.add(j)), _mm512_loadu_ps(xp.add(j + 16)));
            let xe = _mm512_permutex2var_ps(x0, even, x1);
            let xo = _mm512_permutex2var_ps(x0, odd, x1);
            for (k, (ae, ao)) in acc_even.iter_mut().zip(&mut acc_odd).enumerate().take(n) {
                let v = _mm512_loadu_si512(wp.add((r + k) * stride + j).cast());
                let we = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(v));
                let wo = _mm512_castsi512_ps(_mm512_and_si512(v, high));
                *ae = _mm512_fmadd_ps(we, xe, *ae);
                *ao = _mm512_fmadd_ps(wo, xo, *ao);
            }
            j += 32;
        }
        if j < stride {
            // The last 16 columns of a row that is not a multiple of 32.
            let xv = _mm512_loadu_ps(xp.add(j));
            for (k, ae) in acc_even.iter_mut().enumerate().take(n) {
                *ae = _mm512_fmadd_ps(load16_bf16(wp.add((r + k) * stride + j)), xv, *ae);
            }
        }
        let sums: [__m512; 4] =
            std::array::from_fn(|k| _mm512_add_ps(acc_even[k % n], acc_odd[k % n]));
        store_rows(sum4_512(sums), bias, y, r, n == 4);
        r += n;
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
