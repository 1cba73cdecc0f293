//! AVX2+FMA(+F16C) and AVX-512 kernels. Four rows per pass share each load of x; 16-bit
//! weights are widened to f32 in registers (F16C / AVX-512F conversion for f16, a shift for
//! bf16, which is the upper half of an f32), so the sums are those of the f32 kernel.

use std::arch::x86_64::*;

use super::{segment, WeightRows, GROUP, LANES};

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
pub(super) unsafe fn sum4_512(a: [__m512; 4]) -> __m128 {
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

/// A row's accumulators as the one vector `sum4_512` / `sum4_256` take: a 512-bit one as it
/// is, two 256-bit ones added, or two 256-bit ones joined into the 512-bit vector they are
/// the halves of (so that the sums are those of the 512-bit kernel, bit for bit).
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn row_512(a: &[__m512]) -> __m512 {
    a[0]
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn row_256(a: &[__m256]) -> __m256 {
    _mm256_add_ps(a[0], a[1])
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn join_256(a: &[__m256]) -> __m512 {
    let pd = _mm256_castps_pd;
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(pd(a[0])), pd(a[1])))
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
/// vector and row, so that enough independent FMA chains are in flight; `$row` makes a
/// row's accumulators one vector for `$sum4`. `$panels`: the rows are held in four-row
/// panels (a pass of four starts on a panel), else as plain rows.
macro_rules! matvec_kernel {
    ($name:ident, $features:literal, $t:ty, $lanes:literal, $per:literal,
     $load:ident, $loadx:ident, $zero:ident, $fma:ident, $row:ident, $v:ty, $sum4:ident, $panels:literal) => {
        /// # Safety
        #[doc = concat!("The CPU must support ", $features, "; `m.w` holds rows `first..first + y.len()`")]
        /// of `stride` (a multiple of 16), and `x` at least `stride` values.
        #[target_feature(enable = $features)]
        pub unsafe fn $name(m: WeightRows<$t>, x: &[f32], bias: &[f32], y: &mut [f32]) {
            let WeightRows { w, stride, first } = m;
            /// The sums of N rows (from `p`, 16-column blocks `step` apart), as `$sum4` takes
            /// them (the last row's repeated).
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn pass<const N: usize>(p: [*const $t; N], step: usize, stride: usize, xp: *const f32) -> [$v; 4] {
                let mut acc = [$zero(); 4 * $per];
                let mut j = 0;
                while j < stride {
                    let block = j / LANES * step;
                    for h in 0..$per {
                        let xv = $loadx(xp.add(j + h * $lanes));
                        for k in 0..N {
                            let w = $load(p[k].add(block + h * $lanes));
                            acc[k * $per + h] = $fma(w, xv, acc[k * $per + h]);
                        }
                    }
                    j += LANES;
                }
                std::array::from_fn(|k| $row(&acc[k.min(N - 1) * $per..(k.min(N - 1) + 1) * $per]))
            }
            let rows = y.len();
            let (wp, xp) = (w.as_ptr(), x.as_ptr());
            // Elements from one 16-column block of a row to the next.
            let step = if $panels { GROUP * LANES } else { LANES };
            let start = |r: usize| wp.add(segment($panels, stride, r, 0));
            let mut i = 0;
            while i < rows {
                let r = first + i;
                if i + 4 <= rows && (!$panels || r % GROUP == 0) {
                    let sums = pass::<4>(std::array::from_fn(|k| start(r + k)), step, stride, xp);
                    store_rows($sum4(sums), bias, y, i, true);
                    i += 4;
                } else {
                    store_rows($sum4(pass::<1>([start(r)], step, stride, xp)), bias, y, i, false);
                    i += 1;
                }
            }
        }
    };
}

#[rustfmt::skip]
mod kernels {
    use super::*;
    matvec_kernel!(matvec_avx512_f32, "avx512f", f32, 16, 1, load16_f32, load16_f32, _mm512_setzero_ps, _mm512_fmadd_ps, row_512, __m512, sum4_512, true);
    matvec_kernel!(matvec_avx512_f16_wide, "avx512f", u16, 16, 1, load16_f16, load16_f32, _mm512_setzero_ps, _mm512_fmadd_ps, row_512, __m512, sum4_512, true);
    matvec_kernel!(matvec_avx512_f16_split, "avx512f,avx2,fma,f16c", u16, 8, 2, load8_f16, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, join_256, __m512, sum4_512, true);
    matvec_kernel!(matvec_avx2_f32, "avx2,fma,f16c", f32, 8, 2, load8_f32, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, row_256, __m256, sum4_256, true);
    matvec_kernel!(matvec_avx2_f16, "avx2,fma,f16c", u16, 8, 2, load8_f16, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, row_256, __m256, sum4_256, true);
    matvec_kernel!(matvec_avx2_bf16, "avx2,fma,f16c", u16, 8, 2, load8_bf16, load8_f32, _mm256_setzero_ps, _mm256_fmadd_ps, row_256, __m256, sum4_256, false);
}
pub use kernels::*;

/// f16 rows on AVX-512: widened 16 at a time, or 8 at a time where the CPU runs 512-bit
/// instructions as two 256-bit halves (AMD Zen 4: its 512-bit conversion is slower than two
/// 256-bit ones); the two kernels give the same sums bit for bit.
///
/// # Safety
/// As for the other kernels: AVX-512F, `m.w` holds rows `first..first + y.len()` of `stride`.
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512_f16(m: WeightRows<u16>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    if splits_512_bit_ops() {
        matvec_avx512_f16_split(m, x, bias, y)
    } else {
        matvec_avx512_f16_wide(m, x, bias, y)
    }
}

/// Whether this CPU executes 512-bit vector instructions as two 256-bit halves: AMD's
/// family 19h, whose only AVX-512 members are Zen 4. Read once from CPUID and kept in an
/// atomic (no lock, no allocation: the audio thread may be the first to ask).
fn splits_512_bit_ops() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let (vendor, signature) = (__cpuid(0), __cpuid(1));
            let amd =
                (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6E65, 0x444D_4163);
            let base = (signature.eax >> 8) & 0xF;
            let family = if base == 0xF { base + ((signature.eax >> 20) & 0xFF) } else { base };
            let split = amd && family == 0x19;
            KNOWN.store(if split { 2 } else { 1 }, Ordering::Relaxed);
            split
        }
    }
}

/// bf16 rows on AVX-512: through the CPU's bf16 dot product where it has one (AVX-512
/// BF16: `bf16_dot`, about 1.2-1.3x faster on Zen 4), else widened in registers.
///
/// # Safety
/// As for the other kernels: AVX-512F, `m.w` holds rows `first..first + y.len()` of `stride`.
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512_bf16(m: WeightRows<u16>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    // Plain rows: the first one wanted starts `first` rows in (the dot-product kernels take
    // their rows from the first one).
    let WeightRows { w, stride, first } = m;
    let w = &w[first * stride..];
    // std caches the answer in an atomic: no lock or allocation on the audio thread.
    if is_x86_feature_detected!("avx512bf16") {
        super::bf16_dot::matvec(w, stride, x, bias, y)
    } else {
        matvec_avx512_bf16_widened(w, stride, x, bias, y)
    }
}

/// bf16 rows with no conversion instruction: a 512-bit load holds 32 weights as 16 pairs;
/// shifting each 32-bit lane left by 16 gives the even-column weights as f32, masking off
/// its low half the odd ones. x is split into even and odd columns once per 32 columns and
/// shared by four rows.
///
/// # Safety
/// The CPU must support AVX-512F; `w` holds `y.len()` rows of `stride` (a multiple of 16),
/// and `x` at least `stride` values.
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512_bf16_widened(
    w: &[u16],
    stride: usize,
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
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

/// Runs `f` compiled for AVX2 and FMA, with what it inlines.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for AVX-512F, with what it inlines.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
pub unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two f16 kernels must agree exactly, or a model would sound different on Zen 4.
    #[test]
    fn f16_split_and_wide_kernels_give_the_same_bits() {
        if !is_x86_feature_detected!("avx512f") || !is_x86_feature_detected!("f16c") {
            return;
        }
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        for (rows, stride) in [(1usize, 16), (3, 48), (4, 64), (7, 1040), (33, 272)] {
            // Whole four-row panels.
            let w: Vec<u16> = (0..rows.next_multiple_of(GROUP) * stride)
                .map(|_| half::f16::from_f32(next()).to_bits())
                .collect();
            let x: Vec<f32> = (0..stride).map(|_| 8.0 * next()).collect();
            let bias: Vec<f32> = (0..rows).map(|_| next()).collect();
            // From the first row, and from inside the first panel.
            for first in [0, 1.min(rows - 1)] {
                let n = rows - first;
                let (mut wide, mut split) = (vec![0.0; n], vec![0.0; n]);
                let m = WeightRows { w: &w, stride, first };
                // SAFETY: the features were detected; the slices have the sizes the kernels need.
                unsafe {
                    matvec_avx512_f16_wide(m, &x, &bias[..n], &mut wide);
                    matvec_avx512_f16_split(m, &x, &bias[..n], &mut split);
                }
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&wide), bits(&split), "{rows}x{stride} from row {first}");
            }
        }
    }
}
