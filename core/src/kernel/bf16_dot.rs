//! bf16 rows on CPUs with AVX-512 BF16 (AMD Zen 4 and later, Intel Cooper Lake and Sapphire
//! Rapids and later): VDPBF16PS multiplies 32 bf16 weights by 32 bf16 inputs and adds each
//! pair's two products into one of 16 f32 lanes, one instruction where the widening kernel
//! spends two shifts and two FMAs. The input is split once per call into two bf16 vectors,
//! `x = hi + lo` (x to 16 significant bits: 2^-17 relative, a hundredth of the weights' own
//! 2^-9), so each weight vector takes two dot products and the sums stay close to f32's.
//! Like every kernel here, a row's sum uses its own accumulators only, so it is the same
//! whichever rows share its pass.

use std::arch::x86_64::*;
use std::mem::{transmute, MaybeUninit};

use super::x86::sum4_512;

/// Columns of the input split at a time, into a buffer on the stack (8 KiB); longer rows,
/// which only the largest models have, are summed a block at a time.
const BLOCK: usize = 2048;

/// The split input of one block: for each 32 columns, their 32 `hi` values then their 32
/// `lo` values, 64-byte aligned.
#[repr(C, align(64))]
struct SplitBlock([MaybeUninit<u16>; 2 * BLOCK]);

#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn as_bf16(v: __m512i) -> __m512bh {
    transmute::<__m512i, __m512bh>(v)
}

/// 16 bf16 values as the f32 values they are (the upper half of each f32's bits).
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn widen(v: __m256i) -> __m512 {
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(v)))
}

/// Splits `x` (a multiple of 16 values; an odd 16 at the end is paired with zeros) into
/// `out`, rounding to nearest even: `hi` is x in bf16 and `lo` the rest, `x - hi`, which
/// f32 holds exactly.
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn split(x: &[f32], out: &mut [MaybeUninit<u16>]) {
    assert!(x.len().is_multiple_of(16) && out.len() >= 2 * x.len().next_multiple_of(32));
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr().cast::<u16>());
    for c in (0..x.len()).step_by(32) {
        let x0 = _mm512_loadu_ps(xp.add(c));
        let x1 =
            if c + 16 < x.len() { _mm512_loadu_ps(xp.add(c + 16)) } else { _mm512_setzero_ps() };
        let hi = transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(x1, x0));
        let h0 = widen(_mm512_castsi512_si256(hi));
        let h1 = widen(_mm512_extracti64x4_epi64::<1>(hi));
        let lo = _mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
        _mm512_store_si512(op.add(2 * c).cast(), hi);
        _mm512_store_si512(op.add(2 * c + 32).cast(), transmute::<__m512bh, __m512i>(lo));
    }
}

/// Rows `r..r + N` of `w` over one block: columns `cols` of each row (a multiple of 16)
/// against the block's split input `xs`; each row's sum added to its `y`.
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn rows<const N: usize>(
    w: *const u16,
    stride: usize,
    cols: std::ops::Range<usize>,
    xs: *const u16,
    y: &mut [f32],
) {
    let mut hi = [_mm512_setzero_ps(); N];
    let mut lo = [_mm512_setzero_ps(); N];
    let mut c = 0;
    let n = cols.len();
    while c < n {
        let xh = as_bf16(_mm512_load_si512(xs.add(2 * c).cast()));
        let xl = as_bf16(_mm512_load_si512(xs.add(2 * c + 32).cast()));
        for k in 0..N {
            let p = w.add(k * stride + cols.start + c);
            // The last 16 columns of a block that is not a multiple of 32 meet zeros.
            let v = if c + 16 < n {
                _mm512_loadu_si512(p.cast())
            } else {
                _mm512_zextsi256_si512(_mm256_loadu_si256(p.cast()))
            };
            hi[k] = _mm512_dpbf16_ps(hi[k], as_bf16(v), xh);
            lo[k] = _mm512_dpbf16_ps(lo[k], as_bf16(v), xl);
        }
        c += 32;
    }
    for g in (0..N).step_by(4) {
        let sums: [__m512; 4] = std::array::from_fn(|k| {
            let k = (g + k).min(N - 1);
            _mm512_add_ps(hi[k], lo[k])
        });
        let sums: [f32; 4] = transmute::<__m128, [f32; 4]>(sum4_512(sums));
        for (yk, s) in y[g..N.min(g + 4)].iter_mut().zip(sums) {
            *yk += s;
        }
    }
}

/// `y = bias + w x` for bf16 rows of `stride` weights.
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512 BF16; `w` holds `y.len()` rows of `stride` (a
/// multiple of 16), and `x` at least `stride` values.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn matvec(w: &[u16], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    assert!(w.len() >= y.len() * stride && x.len() >= stride && bias.len() >= y.len());
    y.copy_from_slice(&bias[..y.len()]);
    let mut block = SplitBlock([MaybeUninit::uninit(); 2 * BLOCK]);
    for start in (0..stride).step_by(BLOCK) {
        let cols = start..stride.min(start + BLOCK);
        split(&x[cols.clone()], &mut block.0);
        let xs = block.0.as_ptr().cast::<u16>();
        let (rows_n, wp) = (y.len(), w.as_ptr());
        let mut r = 0;
        // Eight rows per pass share each load of x; the rest one at a time.
        while r + 8 <= rows_n {
            rows::<8>(wp.add(r * stride), stride, cols.clone(), xs, &mut y[r..r + 8]);
            r += 8;
        }
        while r < rows_n {
            rows::<1>(wp.add(r * stride), stride, cols.clone(), xs, &mut y[r..r + 1]);
            r += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::x86::matvec_avx512_bf16_widened;

    /// Both AVX-512 bf16 kernels against the exact sums of the same bf16 weights: the dot
    /// product's within its input split's 2^-16, the widening one's within f32 rounding.
    /// Sizes cover eight-row passes and lone rows, a 16-column tail, and two input blocks.
    #[test]
    fn dot_product_and_widening_kernels_match_exact_sums() {
        if !is_x86_feature_detected!("avx512f") || !is_x86_feature_detected!("avx512bf16") {
            return;
        }
        let mut rng = crate::Rng::new(17);
        for (rows, stride) in [(1, 16), (9, 48), (17, 64), (8, 336), (3, BLOCK + 16)] {
            let w: Vec<u16> = (0..rows * stride)
                .map(|_| half::bf16::from_f32(rng.gaussian() * 0.2).to_bits())
                .collect();
            let x: Vec<f32> = (0..stride).map(|_| 4.0 * rng.gaussian()).collect();
            let bias: Vec<f32> = (0..rows).map(|_| rng.gaussian()).collect();
            let (mut dot, mut widened) = (vec![0.0; rows], vec![0.0; rows]);
            // SAFETY: the features were detected; the slices have the sizes the kernels need.
            unsafe {
                matvec(&w, stride, &x, &bias, &mut dot);
                matvec_avx512_bf16_widened(&w, stride, &x, &bias, &mut widened);
            }
            for r in 0..rows {
                let row = &w[r * stride..(r + 1) * stride];
                let weight = |b: &u16| f64::from(half::bf16::from_bits(*b).to_f32());
                let terms = row.iter().zip(&x).map(|(b, v)| weight(b) * f64::from(*v));
                let exact = f64::from(bias[r]) + terms.clone().sum::<f64>();
                let scale = f64::from(bias[r].abs()) + terms.map(f64::abs).sum::<f64>();
                let err = |got: f32| (f64::from(got) - exact).abs() / scale;
                assert!(err(dot[r]) < 2e-5, "dot {rows}x{stride} row {r}: {:.1e}", err(dot[r]));
                assert!(err(widened[r]) < 1e-6, "widened {rows}x{stride} row {r}");
            }
        }
    }
}
