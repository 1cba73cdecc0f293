//! AVX2 and AVX-512 VNNI kernels. Four rows per pass share each load of the input's planes.
//! VNNI's VPDPBUSD multiplies the stored (unsigned) bytes by a signed plane and sums each
//! four into 32 bits; AVX2 widens both to 16 bits and sums pairs with VPMADDWD. Both are
//! exact.

use std::arch::x86_64::*;

use super::{accumulate, product, Dots, Rows};

/// Adds the dot products of rows from `r` on (their sums against each plane) to `y`.
#[inline(always)]
fn finish(d: &Dots, r: usize, hi: &[i32], lo: &[i32], y: &mut [f32]) {
    for (k, (&h, &l)) in hi.iter().zip(lo).enumerate() {
        accumulate(&mut y[r + k], d.scale(r + k), d.sx, d.dot(h, l));
    }
}

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum256(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Rows `r..r + N` over the block with AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn rows_avx2<const N: usize>(d: &Dots, r: usize, y: &mut [f32]) {
    let (hp, lp) = (d.hi.as_ptr(), d.lo.as_ptr());
    let p: [*const u8; N] = std::array::from_fn(|k| d.row(r + k).as_ptr());
    let mut acc_hi = [_mm256_setzero_si256(); N];
    let mut acc_lo = [_mm256_setzero_si256(); N];
    let mut j = 0;
    while j < d.cols.len() {
        let h = _mm256_cvtepi8_epi16(_mm_loadu_si128(hp.add(j).cast()));
        let l = _mm256_cvtepi8_epi16(_mm_loadu_si128(lp.add(j).cast()));
        for k in 0..N {
            let w = _mm256_cvtepu8_epi16(_mm_loadu_si128(p[k].add(j).cast()));
            acc_hi[k] = _mm256_add_epi32(acc_hi[k], _mm256_madd_epi16(w, h));
            acc_lo[k] = _mm256_add_epi32(acc_lo[k], _mm256_madd_epi16(w, l));
        }
        j += 16;
    }
    finish(d, r, &acc_hi.map(|a| hsum256(a)), &acc_lo.map(|a| hsum256(a)), y);
}

/// The four accumulators' horizontal sums, in one transposing tree (a quarter of the
/// shuffles of four separate reductions).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn sum4(a: &[__m512i]) -> [i32; 4] {
    let s01 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(a[0], a[1]), _mm512_unpackhi_epi32(a[0], a[1]));
    let s23 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(a[2], a[3]), _mm512_unpackhi_epi32(a[2], a[3]));
    // Each 128-bit lane now holds partial sums of rows 0, 1, 2, 3, in that order.
    let s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    let h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s));
    let q = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
    let mut out = [0i32; 4];
    _mm_storeu_si128(out.as_mut_ptr().cast(), q);
    out
}

/// Rows `r..r + N` (N is 4 or 1) over the block with AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX-512F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn rows_vnni<const N: usize>(d: &Dots, r: usize, y: &mut [f32]) {
    let (hp, lp) = (d.hi.as_ptr(), d.lo.as_ptr());
    let p: [*const u8; N] = std::array::from_fn(|k| d.row(r + k).as_ptr());
    let len = d.cols.len();
    let mut acc_hi = [_mm512_setzero_si512(); N];
    let mut acc_lo = [_mm512_setzero_si512(); N];
    // The last step's columns (a row is a multiple of 16 bytes, the step 64): the masked
    // load reads nothing past them. The planes are zero there anyway.
    let tail = len % 64;
    let full = len - tail;
    let mut step = |j: usize, w: [__m512i; N]| {
        let h = _mm512_loadu_si512(hp.add(j).cast());
        let l = _mm512_loadu_si512(lp.add(j).cast());
        for k in 0..N {
            acc_hi[k] = _mm512_dpbusd_epi32(acc_hi[k], w[k], h);
            acc_lo[k] = _mm512_dpbusd_epi32(acc_lo[k], w[k], l);
        }
    };
    let mut j = 0;
    while j < full {
        step(j, std::array::from_fn(|k| _mm512_loadu_si512(p[k].add(j).cast())));
        j += 64;
    }
    if tail != 0 {
        let mask: __mmask64 = (1u64 << tail) - 1;
        step(j, std::array::from_fn(|k| _mm512_maskz_loadu_epi8(mask, p[k].add(j).cast())));
    }
    if N == 4 {
        finish(d, r, &sum4(&acc_hi), &sum4(&acc_lo), y);
    } else {
        let (hi, lo) = (
            acc_hi.map(|a| _mm512_reduce_add_epi32(a)),
            acc_lo.map(|a| _mm512_reduce_add_epi32(a)),
        );
        finish(d, r, &hi, &lo, y);
    }
}

/// Four rows per pass, then one at a time.
macro_rules! dots {
    ($name:ident, $features:literal, $rows:ident) => {
        /// # Safety
        #[doc = concat!("The CPU must support ", $features, ".")]
        #[target_feature(enable = $features)]
        unsafe fn $name(d: &Dots, y: &mut [f32]) {
            let mut r = 0;
            while r + 4 <= y.len() {
                $rows::<4>(d, r, y);
                r += 4;
            }
            while r < y.len() {
                $rows::<1>(d, r, y);
                r += 1;
            }
        }
    };
}

dots!(dots_avx2, "avx2", rows_avx2);
dots!(dots_vnni, "avx512f,avx512bw,avx512vnni", rows_vnni);

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matvec_avx2(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    product(m, x, bias, y, |d, y| dots_avx2(d, y))
}

/// # Safety
/// The CPU must support AVX-512F. Without VNNI (or BW) the AVX2 kernel runs: every CPU
/// with AVX-512 has AVX2.
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512bw") {
        product(m, x, bias, y, |d, y| dots_vnni(d, y))
    } else {
        product(m, x, bias, y, |d, y| dots_avx2(d, y))
    }
}
