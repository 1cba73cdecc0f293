//! AVX2, AVX-VNNI and AVX-512 VNNI kernels over the panels: each 64-byte block is four
//! columns of sixteen rows, so a row's sum stays in its own lane. VNNI's VPDPBUSD multiplies
//! a block's stored (unsigned) bytes by four columns of a signed plane, broadcast, into
//! sixteen 32-bit row sums; four panels share each broadcast. AVX-VNNI (Intel's client
//! cores, which lack AVX-512) does the same on each half block with 256-bit vectors. Plain
//! AVX2 widens a quarter block's stored bytes (four rows) to 16 bits and multiplies them by
//! the input's four 16-bit values with one VPMADDWD, then takes 128 sum(x) off each row's
//! total. All are exact.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::{product, quantize_input, Dots, Rows, BLOCK, INPUT_MAX, PANEL, QUAD, ZERO};

/// Quads of columns the AVX2 kernel sums in 32-bit lanes before adding them up in 64 bits.
const AVX2_RUN: usize = 128;

// Each AVX2 lane sums two products of a stored byte (<= 255) and |input| <= INPUT_MAX + 127
// (its rounding) per quad: over a run they must not overflow.
const _: () = assert!(AVX2_RUN as i64 * 2 * 255 * (INPUT_MAX as i64 + 127) < i32::MAX as i64);

/// The input as 16-bit integers, `256 hi + lo` (within +-(127 * 256 + 127)).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn input16<'a>(d: &Dots, buf: &'a mut [MaybeUninit<i16>; BLOCK]) -> &'a [i16] {
    let n = d.cols.len();
    for ((out, &h), &l) in buf.iter_mut().zip(d.hi).zip(d.lo) {
        out.write(256 * i16::from(h) + i16::from(l));
    }
    // SAFETY: the first n elements were written just above (the planes hold n values).
    &*(&buf[..n] as *const [MaybeUninit<i16>] as *const [i16])
}

/// Every panel over the block with AVX2. The stored bytes (level + 128) are widened as they
/// are, one instruction with the load, and the sums corrected by 128 sum(x) at the end.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2(d: &Dots, y: &mut [f32]) {
    let mut buf = [MaybeUninit::uninit(); BLOCK];
    let x = input16(d, &mut buf);
    let offset = d.offset();
    let quads = d.cols.len() / QUAD;
    for p in 0..d.panels() {
        let block = d.panel(p).as_ptr();
        let mut dots = [-offset; PANEL];
        for run in (0..quads).step_by(AVX2_RUN) {
            // acc[k]'s lanes 2i and 2i + 1 are row 4k + i's (two columns each).
            let mut acc = [_mm256_setzero_si256(); PANEL / 4];
            for q in run..quads.min(run + AVX2_RUN) {
                let xq =
                    _mm256_set1_epi64x(x.as_ptr().add(q * QUAD).cast::<i64>().read_unaligned());
                for (k, a) in acc.iter_mut().enumerate() {
                    let w = _mm_loadu_si128(block.add((q * PANEL + 4 * k) * QUAD).cast());
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_cvtepu8_epi16(w), xq));
                }
            }
            for (k, a) in acc.iter().enumerate() {
                let mut lanes = [0i32; 8];
                _mm256_storeu_si256(lanes.as_mut_ptr().cast(), *a);
                for (i, lane) in lanes.iter().enumerate() {
                    dots[4 * k + i / 2] += i64::from(*lane);
                }
            }
        }
        d.finish(p, &dots, y);
    }
}

/// Columns of a block up to which a row's whole dot product, 256 (hi - 128 sum(hi plane)) +
/// (lo - 128 sum(lo plane)), fits 32 bits: each column adds at most 256 * 127 * 127 (the
/// high plane) + 127 * 128 (the low one). Most rows are this short, and their sums become
/// floats in one conversion instead of four through f64.
const I32_COLS: usize = 512;
const _: () = assert!(I32_COLS as i64 * (256 * 127 * 127 + 127 * 128) < i32::MAX as i64);

/// Adds panel `p`'s exact sums against the two planes (`hi`, `lo`: the stored bytes',
/// a row a lane) to the rows of `y` that want them: `Dots::finish`, sixteen rows at once.
/// 256 (hi - 128 sum(hi plane)) + (lo - 128 sum(lo plane)) is exact in i32 (up to `I32_COLS`
/// columns) or in f64 (below 2^35), so its one rounding to f32 is the same as the i64's.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn finish_avx512(d: &Dots, p: usize, hi: __m512i, lo: __m512i, y: &mut [f32]) {
    let zero = i32::from(ZERO);
    let dh = _mm512_sub_epi32(hi, _mm512_set1_epi32(zero * d.sums[0]));
    let dl = _mm512_sub_epi32(lo, _mm512_set1_epi32(zero * d.sums[1]));
    let dot = if d.cols.len() <= I32_COLS {
        _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32::<8>(dh), dl))
    } else {
        let exact = |h: __m256i, l: __m256i| {
            let h = _mm512_mul_pd(_mm512_cvtepi32_pd(h), _mm512_set1_pd(256.0));
            _mm256_castps_pd(_mm512_cvtpd_ps(_mm512_add_pd(h, _mm512_cvtepi32_pd(l))))
        };
        let low = exact(_mm512_castsi512_si256(dh), _mm512_castsi512_si256(dl));
        let high = exact(_mm512_extracti64x4_epi64::<1>(dh), _mm512_extracti64x4_epi64::<1>(dl));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(low), high))
    };
    let (ys, k0) = d.wanted(p, y.len());
    let mask = (((1u32 << ys.len()) - 1) << k0) as __mmask16;
    // Lane k is row p * PANEL + k, index ys.start + k - k0 of y and of the bias: the masked
    // lanes are never read or written, wherever the pointer to lane 0 falls. The first
    // block adds to the bias, later ones to what y holds.
    let base = d.bias.map_or(y.as_ptr(), <[f32]>::as_ptr).wrapping_add(ys.start).wrapping_sub(k0);
    let out = y.as_mut_ptr().wrapping_add(ys.start).wrapping_sub(k0);
    let scale = _mm512_loadu_ps(d.rows.scales.as_ptr().add(p * PANEL));
    let scale = _mm512_mul_ps(scale, _mm512_set1_ps(d.sx));
    let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, base), _mm512_mul_ps(scale, dot));
    _mm512_mask_storeu_ps(out, mask, sum);
}

/// `quantize_input` sixty-four values at a time (the rest as it does): the same integers,
/// since the conversion rounds to nearest, ties to even, as `round_to_i32` does. Packing
/// to 16 and 8 bits replaces the narrowing stores the compiler makes of the plain loop
/// (VPMOVDB to memory, slow on Zen 4). `t = q + 128` fits 16 bits (|q| <= 127 * 256 + 127),
/// and its bytes are the planes: `hi = t >> 8`, `lo = (t & 255) - 128`.
///
/// # Safety
/// The CPU must support AVX-512F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn quantize_avx512(
    x: &[f32],
    inv: f32,
    hi: &mut [MaybeUninit<i8>],
    lo: &mut [MaybeUninit<i8>],
) -> [i32; 2] {
    const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let whole = x.len() / 64 * 64;
    let (scale, offset) = (_mm512_set1_ps(inv), _mm512_set1_epi32(i32::from(ZERO)));
    let (low_byte, half) = (_mm512_set1_epi16(0xFF), _mm512_set1_epi16(128));
    // After two packs, 32-bit lane 4k + j holds values 4k..4k + 4 of vector j.
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let ones = _mm512_set1_epi16(1);
    let (mut sum_hi, mut sum_lo) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    for c in (0..whole).step_by(64) {
        let t: [__m512i; 4] = std::array::from_fn(|k| {
            let v = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(c + 16 * k)), scale);
            _mm512_add_epi32(_mm512_cvt_roundps_epi32::<ROUND>(v), offset)
        });
        let t = [_mm512_packs_epi32(t[0], t[1]), _mm512_packs_epi32(t[2], t[3])];
        let h = t.map(|t| _mm512_srai_epi16::<8>(t));
        let l = t.map(|t| _mm512_sub_epi16(_mm512_and_si512(t, low_byte), half));
        sum_hi = _mm512_add_epi32(sum_hi, _mm512_madd_epi16(_mm512_add_epi16(h[0], h[1]), ones));
        sum_lo = _mm512_add_epi32(sum_lo, _mm512_madd_epi16(_mm512_add_epi16(l[0], l[1]), ones));
        let h = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(h[0], h[1]));
        let l = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(l[0], l[1]));
        _mm512_storeu_si512(hi.as_mut_ptr().add(c).cast(), h);
        _mm512_storeu_si512(lo.as_mut_ptr().add(c).cast(), l);
    }
    let [rest_hi, rest_lo] = quantize_input(&x[whole..], inv, &mut hi[whole..], &mut lo[whole..]);
    [_mm512_reduce_add_epi32(sum_hi) + rest_hi, _mm512_reduce_add_epi32(sum_lo) + rest_lo]
}

/// Panels `p..p + N` over the block with AVX-512 VNNI.
///
/// # Safety
/// The CPU must support AVX-512F and VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn panels_vnni<const N: usize>(d: &Dots, p: usize, y: &mut [f32]) {
    let blocks: [*const u8; N] = std::array::from_fn(|k| d.panel(p + k).as_ptr());
    let (hp, lp) = (d.hi.as_ptr(), d.lo.as_ptr());
    let mut hi = [_mm512_setzero_si512(); N];
    let mut lo = [_mm512_setzero_si512(); N];
    for q in 0..d.cols.len() / QUAD {
        let h = _mm512_set1_epi32(hp.add(q * QUAD).cast::<i32>().read_unaligned());
        let l = _mm512_set1_epi32(lp.add(q * QUAD).cast::<i32>().read_unaligned());
        for k in 0..N {
            let w = _mm512_loadu_si512(blocks[k].add(q * PANEL * QUAD).cast());
            hi[k] = _mm512_dpbusd_epi32(hi[k], w, h);
            lo[k] = _mm512_dpbusd_epi32(lo[k], w, l);
        }
    }
    for k in 0..N {
        finish_avx512(d, p + k, hi[k], lo[k], y);
    }
}

/// Four panels a pass, then one at a time.
///
/// # Safety
/// The CPU must support AVX-512F and VNNI.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dots_vnni(d: &Dots, y: &mut [f32]) {
    let (panels, mut p) = (d.panels(), 0);
    while p + 4 <= panels {
        panels_vnni::<4>(d, p, y);
        p += 4;
    }
    while p < panels {
        panels_vnni::<1>(d, p, y);
        p += 1;
    }
}

/// Panels `p..p + N` over the block with 256-bit VPDPBUSD (`dp`): a block's two halves are
/// its rows 0-7 and 8-15, each summed against both planes. Two panels a pass keep the
/// accumulators, broadcasts and loads within AVX2's sixteen registers.
#[inline(always)]
unsafe fn panels_256<const N: usize>(
    d: &Dots,
    p: usize,
    y: &mut [f32],
    dp: impl Fn(__m256i, __m256i, __m256i) -> __m256i,
) {
    let blocks: [*const u8; N] = std::array::from_fn(|k| d.panel(p + k).as_ptr());
    let (hp, lp) = (d.hi.as_ptr(), d.lo.as_ptr());
    // acc[k][2 * plane + half]: plane 0 the high one; half 0 rows 0-7.
    let mut acc = [[_mm256_setzero_si256(); 4]; N];
    for q in 0..d.cols.len() / QUAD {
        let h = _mm256_set1_epi32(hp.add(q * QUAD).cast::<i32>().read_unaligned());
        let l = _mm256_set1_epi32(lp.add(q * QUAD).cast::<i32>().read_unaligned());
        for (k, a) in acc.iter_mut().enumerate() {
            for half in 0..2 {
                let w = _mm256_loadu_si256(blocks[k].add(q * PANEL * QUAD + 32 * half).cast());
                a[half] = dp(a[half], w, h);
                a[2 + half] = dp(a[2 + half], w, l);
            }
        }
    }
    for (k, a) in acc.iter().enumerate() {
        for half in 0..2 {
            finish_256(d, p + k, half, a[half], a[2 + half], y);
        }
    }
}

/// `finish_avx512` for half a panel (rows 8 half .. 8 half + 8) from 256-bit sums, the same
/// arithmetic in the same order, under AVX2's masked loads and stores.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn finish_256(d: &Dots, p: usize, half: usize, hi: __m256i, lo: __m256i, y: &mut [f32]) {
    let zero = i32::from(ZERO);
    let dh = _mm256_sub_epi32(hi, _mm256_set1_epi32(zero * d.sums[0]));
    let dl = _mm256_sub_epi32(lo, _mm256_set1_epi32(zero * d.sums[1]));
    let dot = if d.cols.len() <= I32_COLS {
        _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_slli_epi32::<8>(dh), dl))
    } else {
        let exact = |h: __m128i, l: __m128i| {
            let h = _mm256_mul_pd(_mm256_cvtepi32_pd(h), _mm256_set1_pd(256.0));
            _mm256_cvtpd_ps(_mm256_add_pd(h, _mm256_cvtepi32_pd(l)))
        };
        let low = exact(_mm256_castsi256_si128(dh), _mm256_castsi256_si128(dl));
        let high = exact(_mm256_extracti128_si256::<1>(dh), _mm256_extracti128_si256::<1>(dl));
        _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(low), high)
    };
    let (ys, k0) = d.wanted(p, y.len());
    // Lane i is row 8 half + i of the panel: wanted if within k0..k0 + ys.len().
    let lane = _mm256_add_epi32(
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        _mm256_set1_epi32(8 * half as i32),
    );
    let from = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(k0 as i32 - 1));
    let to = _mm256_cmpgt_epi32(_mm256_set1_epi32((k0 + ys.len()) as i32), lane);
    let mask = _mm256_and_si256(from, to);
    // As in `finish_avx512`: the masked lanes are never read or written.
    let shift = (ys.start + 8 * half).wrapping_sub(k0);
    let base = d.bias.map_or(y.as_ptr(), <[f32]>::as_ptr).wrapping_add(shift);
    let out = y.as_mut_ptr().wrapping_add(shift);
    let scale = _mm256_loadu_ps(d.rows.scales.as_ptr().add(p * PANEL + 8 * half));
    let scale = _mm256_mul_ps(scale, _mm256_set1_ps(d.sx));
    let sum = _mm256_add_ps(_mm256_maskload_ps(base, mask), _mm256_mul_ps(scale, dot));
    _mm256_maskstore_ps(out, mask, sum);
}

/// Two panels a pass with 256-bit VPDPBUSD, then the last one alone.
#[inline(always)]
unsafe fn dots_256(
    d: &Dots,
    y: &mut [f32],
    dp: impl Fn(__m256i, __m256i, __m256i) -> __m256i + Copy,
) {
    let (panels, mut p) = (d.panels(), 0);
    while p + 2 <= panels {
        panels_256::<2>(d, p, y, dp);
        p += 2;
    }
    if p < panels {
        panels_256::<1>(d, p, y, dp);
    }
}

/// The product on CPUs with AVX-VNNI but not AVX-512 (Intel's client cores from Alder Lake):
/// the VEX form of VPDPBUSD on 256-bit vectors, twice the AVX2 kernel's rate.
///
/// # Safety
/// The CPU must support AVX2, FMA and AVX-VNNI.
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn avx_vnni(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    product(m, x, bias, y, quantize_input, |d, y| {
        dots_256(d, y, |a, w, x| _mm256_dpbusd_avx_epi32(a, w, x))
    })
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn matvec_avx2(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    if is_x86_feature_detected!("avxvnni") {
        avx_vnni(m, x, bias, y)
    } else {
        product(m, x, bias, y, quantize_input, |d, y| dots_avx2(d, y))
    }
}

/// # Safety
/// The CPU must support AVX-512F. Without VNNI the AVX2 kernels run: every CPU with
/// AVX-512 has AVX2 and FMA (and every one with VNNI has BW).
#[target_feature(enable = "avx512f")]
pub unsafe fn matvec_avx512(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512bw") {
        vnni(m, x, bias, y)
    } else {
        matvec_avx2(m, x, bias, y)
    }
}

/// # Safety
/// The CPU must support AVX-512F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    product(m, x, bias, y, |x, inv, hi, lo| quantize_avx512(x, inv, hi, lo), |d, y| dots_vnni(d, y))
}

#[cfg(test)]
mod tests {
    use super::super::{pack, panel_bytes, portable, Rows, ZERO};
    use super::*;
    use crate::kernel::padded;
    use crate::Rng;

    /// The AVX-VNNI kernel's loop through AVX-512 VL's EVEX form of the same instruction
    /// (same operation, other encoding), which CPUs with AVX-512 VNNI run: they lack AVX-VNNI.
    #[target_feature(enable = "avx2,fma,avx512f,avx512vl,avx512vnni")]
    unsafe fn evex_256(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
        product(m, x, bias, y, quantize_input, |d, y| {
            dots_256(d, y, |a, w, x| _mm256_dpbusd_epi32(a, w, x))
        })
    }

    #[test]
    fn the_256_bit_vnni_loop_gives_the_portable_sums() {
        if !is_x86_feature_detected!("avx512vl") || !is_x86_feature_detected!("avx512vnni") {
            eprintln!("skipped: no AVX-512 VNNI on this CPU");
            return;
        }
        // One panel, two (a pair), three (a pair and one alone), partial ones; rows longer
        // than an input block.
        for (rows, cols) in [(16, 64), (37, 70), (48, 200), (5, 16), (83, 64), (3, 5000)] {
            let mut rng = Rng::new(rows as u64 * 7 + cols as u64);
            let w: Vec<f32> = (0..rows * cols).map(|_| rng.gaussian() * 0.2).collect();
            let bias: Vec<f32> = (0..rows).map(|_| rng.gaussian() * 0.1).collect();
            let mut x = vec![0.0; padded(cols)];
            x[..cols].iter_mut().for_each(|v| *v = rng.gaussian());
            let stride = padded(cols);
            let mut bytes = vec![ZERO; panel_bytes(rows, stride)];
            let scales = pack(rows, cols, stride, &w, &mut bytes);
            let whole = |r: std::ops::Range<usize>| Rows::covering(&bytes, 0, stride, &scales, r);
            let mut want = vec![0.0; rows];
            portable::matvec(whole(0..rows), &x, &bias, &mut want);
            // Whole, and cut into pieces that start and end inside panels.
            for size in [rows, 13] {
                let mut got = vec![0.0; rows];
                for start in (0..rows).step_by(size) {
                    let end = rows.min(start + size);
                    // SAFETY: the CPU has the features (checked above).
                    unsafe {
                        evex_256(whole(start..end), &x, &bias[start..end], &mut got[start..end])
                    };
                }
                assert!(got == want, "{rows}x{cols} in pieces of {size}: differs from portable");
            }
        }
    }
}
