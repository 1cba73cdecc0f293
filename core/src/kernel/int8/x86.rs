//! AVX2 and AVX-512 VNNI kernels. Four rows per pass share each load of the input's planes.
//! VNNI's VPDPBUSD multiplies the stored (unsigned) bytes by a signed plane and sums each
//! four into 32 bits; AVX2 rebuilds the 16-bit input from its planes, restores each weight's
//! signed level and sums pairs with one VPMADDWD per 16 weights. Both are exact.

use std::arch::x86_64::*;

use super::{accumulate, product, Dots, Rows, BLOCK, INPUT_MAX};

/// Adds each row's exact dot product, from `r` on, to `y`.
#[inline(always)]
fn finish(d: &Dots, r: usize, dots: &[i64], y: &mut [f32]) {
    for (k, &dot) in dots.iter().enumerate() {
        accumulate(&mut y[r + k], d.scale(r + k), d.sx, dot);
    }
}

// The AVX2 kernel's 32-bit lanes each sum BLOCK / 16 pairs of |level| <= 127 times
// |input| <= INPUT_MAX + 127 (its rounding): they must not overflow.
const _: () = assert!((BLOCK / 16) as i64 * 2 * 127 * (INPUT_MAX as i64 + 127) < i32::MAX as i64);

/// The sum of a vector's eight 32-bit lanes, in 64 bits (the lanes may each be near
/// i32's limit).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn hsum256(v: __m256i) -> i64 {
    let s = _mm256_add_epi64(
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
        _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v)),
    );
    let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    _mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)
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
    let flip = _mm_set1_epi8(i8::MIN);
    let mut acc = [_mm256_setzero_si256(); N];
    let mut j = 0;
    while j < d.cols.len() {
        // The input as 16-bit integers: 256 hi + lo is within +-(127 * 256 + 127).
        let h = _mm256_cvtepi8_epi16(_mm_loadu_si128(hp.add(j).cast()));
        let l = _mm256_cvtepi8_epi16(_mm_loadu_si128(lp.add(j).cast()));
        let x = _mm256_add_epi16(_mm256_slli_epi16::<8>(h), l);
        for (a, row) in acc.iter_mut().zip(p) {
            // A stored byte is level + 128: with its top bit flipped, the level as an i8.
            let w = _mm_xor_si128(_mm_loadu_si128(row.add(j).cast()), flip);
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_cvtepi8_epi16(w), x));
        }
        j += 16;
    }
    finish(d, r, &acc.map(|a| hsum256(a)), y);
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
    let (hi, lo): ([i32; N], [i32; N]) = if N == 4 {
        let (h, l) = (sum4(&acc_hi), sum4(&acc_lo));
        (std::array::from_fn(|k| h[k]), std::array::from_fn(|k| l[k]))
    } else {
        (acc_hi.map(|a| _mm512_reduce_add_epi32(a)), acc_lo.map(|a| _mm512_reduce_add_epi32(a)))
    };
    finish(d, r, &std::array::from_fn::<i64, N, _>(|k| d.dot(hi[k], lo[k])), y);
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
