//! int8 weights. Each row is stored as bytes `q + 128`, with `q = round(w / s)` in
//! [-127, 127] and `s` the row's scale (its largest weight / 127, or less where clipping
//! the few largest rounds the rest more finely). Rows are held in panels of sixteen: each
//! 64-byte block of a panel holds four consecutive columns of its sixteen rows (row k's
//! four bytes at 4k), so that one vector load feeds sixteen rows' sums and no row needs a
//! horizontal sum of its own (a row of 64 weights is one block's quarter, not a loop).
//! Each product quantises its input to 16 bits (one scale for the vector), held as two
//! signed byte planes, `x = 256 hi + lo`, so that the byte kernels run twice and the sums
//! stay exact integers: the same on every instruction set and however the rows are cut,
//! with `y = bias + (s * s_x) * dot` evaluated in one order everywhere. The weights'
//! rounding is the format's error; the input's is 256 times finer.

#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::mem::MaybeUninit;

use super::{math, Isa};

/// Columns of the input quantised at a time, into buffers on the stack (2 x 4 KiB);
/// longer rows, which only the largest models have, are summed a block at a time.
pub const BLOCK: usize = 4096;

/// The stored byte of a zero weight (and of the rows' and panels' padding).
pub const ZERO: u8 = 128;

/// Rows of a panel.
pub const PANEL: usize = 16;

/// Columns of a panel's 64-byte block.
pub const QUAD: usize = 4;

/// Bytes of `rows` rows of `stride` columns held in panels (the last one padded).
pub fn panel_bytes(rows: usize, stride: usize) -> usize {
    rows.div_ceil(PANEL) * PANEL * stride
}

/// Where weight (`r`, `c`) of rows of `stride` columns lies in their panels.
pub fn position(stride: usize, r: usize, c: usize) -> usize {
    (r / PANEL) * PANEL * stride + (c / QUAD) * PANEL * QUAD + (r % PANEL) * QUAD + c % QUAD
}

/// Largest |x| of the quantised input: 127 * 256, so that both planes fit in a signed byte.
const INPUT_MAX: f32 = 127.0 * 256.0;

/// Clipping ratios tried per row, from none down to half the largest weight.
const CLIP_STEPS: usize = 64;

/// The level in [-127, 127] a weight rounds to, `inv` being one over the row's scale
/// (a product beyond `round_small`'s range is far beyond 127 and clamps alike).
fn level(w: f32, inv: f32) -> f32 {
    math::round_small(w * inv).clamp(-127.0, 127.0)
}

/// The squared rounding error of `row` at scale `s`.
fn rounding_error(row: &[f32], s: f32) -> f64 {
    let inv = 1.0 / s;
    row.iter().map(|&w| f64::from(level(w, inv) * s - w).powi(2)).sum()
}

/// Quantises one row of weights into `dst` (its padding left alone); returns the row's
/// scale: of the clipping ratios tried, the one with the least squared rounding error.
pub fn quantize_row(src: &[f32], dst: &mut [u8]) -> f32 {
    let amax = src.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    if amax == 0.0 {
        return 0.0;
    }
    let (_, scale) = (0..CLIP_STEPS)
        .map(|k| amax * (1.0 - 0.5 * k as f32 / CLIP_STEPS as f32) / 127.0)
        .map(|s| (rounding_error(src, s), s))
        .fold((f64::INFINITY, 0.0), |best, c| if c.0 < best.0 { c } else { best });
    let inv = 1.0 / scale;
    for (d, &w) in dst.iter_mut().zip(src) {
        *d = (level(w, inv) as i32 + i32::from(ZERO)) as u8;
    }
    scale
}

/// Quantises `rows x cols` row-major weights into panels of rows of `stride` columns in
/// `dst` (filled with `ZERO`); returns the rows' scales, zero for the panels' padding.
pub fn pack(rows: usize, cols: usize, stride: usize, weights: &[f32], dst: &mut [u8]) -> Vec<f32> {
    let mut scales = vec![0.0; rows.div_ceil(PANEL) * PANEL];
    let mut row = vec![ZERO; cols];
    for (r, src) in weights.chunks_exact(cols.max(1)).take(rows).enumerate() {
        scales[r] = quantize_row(src, &mut row);
        for (c, &byte) in row.iter().enumerate() {
            dst[position(stride, r, c)] = byte;
        }
    }
    scales
}

/// The weight a stored byte stands for.
pub fn dequantize(byte: u8, scale: f32) -> f32 {
    (i32::from(byte) - i32::from(ZERO)) as f32 * scale
}

/// The input's quantised block: two planes; only the part in use is
/// written (not zeroed first: a small product would spend longer clearing 8 KiB than
/// multiplying).
struct InputBlock {
    hi: [MaybeUninit<i8>; BLOCK],
    lo: [MaybeUninit<i8>; BLOCK],
}

/// `base + (scale * sx) * dot`: the one place a row's integer sum becomes a float.
#[inline(always)]
pub fn accumulate(base: f32, scale: f32, sx: f32, dot: i64) -> f32 {
    base + scale * sx * dot as f32
}

/// int8 weight rows as the kernels read them: whole panels of rows of `stride` bytes, from
/// the one that holds the first row wanted.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub bytes: &'a [u8],
    pub stride: usize,
    /// The scales of the panels' rows.
    pub scales: &'a [f32],
    /// The first row wanted, within the first panel: `y[i]` is row `first + i`.
    pub first: usize,
}

impl<'a> Rows<'a> {
    /// The panels holding `rows` of a matrix whose panels start at `bytes[offset]`.
    pub fn covering(
        bytes: &'a [u8],
        offset: usize,
        stride: usize,
        scales: &'a [f32],
        rows: std::ops::Range<usize>,
    ) -> Self {
        let first = rows.start / PANEL * PANEL;
        let last = rows.end.div_ceil(PANEL) * PANEL;
        Rows {
            bytes: &bytes[offset + first * stride..offset + last * stride],
            stride,
            scales: &scales[first..last],
            first: rows.start - first,
        }
    }
}

/// Sums of the panels' rows over the columns `cols` against a quantised input block, each
/// wanted one added through `accumulate` to its bias (the first block) or its `y` (later
/// ones): `y = bias; y += ...` for every block, without copying the bias first.
pub struct Dots<'a> {
    pub rows: Rows<'a>,
    pub cols: std::ops::Range<usize>,
    /// The block's quantised input, `256 hi + lo`.
    pub hi: &'a [i8],
    pub lo: &'a [i8],
    /// The planes' sums, for the offset of the stored bytes.
    pub sums: [i32; 2],
    pub sx: f32,
    /// The rows' biases, for the first block; `None` for later ones.
    pub bias: Option<&'a [f32]>,
}

impl Dots<'_> {
    /// Panels of rows.
    pub fn panels(&self) -> usize {
        self.rows.bytes.len() / (PANEL * self.rows.stride)
    }

    /// Panel `p`'s 64-byte blocks over the block's columns.
    pub fn panel(&self, p: usize) -> &[u8] {
        let start = p * PANEL * self.rows.stride;
        &self.rows.bytes[start + self.cols.start * PANEL..start + self.cols.end * PANEL]
    }

    /// What the stored bytes' offset adds to every row's sum against the input `256 hi + lo`:
    /// `sum((q + 128) x) - 128 sum(x)` is `sum(q x)`.
    pub fn offset(&self) -> i64 {
        i64::from(ZERO) * (256 * i64::from(self.sums[0]) + i64::from(self.sums[1]))
    }

    /// A row's dot product from its stored bytes' sums against each plane.
    pub fn dot(&self, hi: i32, lo: i32) -> i64 {
        256 * i64::from(hi) + i64::from(lo) - self.offset()
    }

    /// The wanted rows of panel `p`: `y`'s indices and the panel's rows.
    pub fn wanted(&self, p: usize, y_len: usize) -> (std::ops::Range<usize>, usize) {
        let row = p * PANEL;
        let start = row.max(self.rows.first);
        let end = (row + PANEL).min(self.rows.first + y_len).max(start);
        (start - self.rows.first..end - self.rows.first, start - row)
    }

    /// Adds the exact dot products of panel `p`'s rows to those of them `y` wants.
    pub fn finish(&self, p: usize, dots: &[i64; PANEL], y: &mut [f32]) {
        let (ys, k0) = self.wanted(p, y.len());
        let rows = dots[k0..].iter().zip(&self.rows.scales[p * PANEL + k0..]);
        let sx = self.sx;
        let outs = y[ys.clone()].iter_mut();
        match self.bias {
            Some(bias) => outs.zip(&bias[ys]).zip(rows).for_each(|((out, &b), (&dot, &s))| {
                *out = accumulate(b, s, sx, dot);
            }),
            None => {
                outs.zip(rows).for_each(|(out, (&dot, &s))| *out = accumulate(*out, s, sx, dot))
            }
        }
    }
}

/// The largest |x|, NaN if any x is (NaN's bit patterns order above infinity's).
#[inline(always)]
fn abs_max(x: &[f32]) -> f32 {
    f32::from_bits(x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7FFF_FFFF)))
}

/// Quantises `x` by `inv` into the two planes; returns their sums.
#[inline(always)]
fn quantize_input(
    x: &[f32],
    inv: f32,
    hi: &mut [MaybeUninit<i8>],
    lo: &mut [MaybeUninit<i8>],
) -> [i32; 2] {
    let mut sums = [0i32; 2];
    for ((h, l), &v) in hi.iter_mut().zip(lo.iter_mut()).zip(x) {
        // |v * inv| <= INPUT_MAX (to rounding), so `q` is within 127 * 256 + 127: its
        // high part (rounded to nearest) and the rest both fit a signed byte.
        let q = math::round_to_i32(v * inv);
        let high = (q + 128) >> 8;
        let low = q - 256 * high;
        h.write(high as i8);
        l.write(low as i8);
        sums[0] += high;
        sums[1] += low;
    }
    sums
}

/// Views the written front of a plane.
///
/// # Safety
/// Every element of `plane` must have been written.
unsafe fn written(plane: &[MaybeUninit<i8>]) -> &[i8] {
    &*(plane as *const [MaybeUninit<i8>] as *const [i8])
}

/// The whole product with one instruction set's `quantize` (`quantize_input`'s integers)
/// and `dots`: inlined into each kernel's `target_feature` wrapper so that the input's
/// quantisation is vectorised for it too.
#[inline(always)]
fn product(
    m: Rows,
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
    quantize: impl Fn(&[f32], f32, &mut [MaybeUninit<i8>], &mut [MaybeUninit<i8>]) -> [i32; 2],
    dots: impl Fn(&Dots, &mut [f32]),
) {
    let (stride, amax) = (m.stride, abs_max(&x[..m.stride]));
    if !amax.is_finite() {
        // A non-finite input makes every output non-finite, as it would in f32.
        y.fill(f32::NAN);
        return;
    }
    if amax == 0.0 || y.is_empty() {
        y.copy_from_slice(bias);
        return;
    }
    let (sx, inv) = (amax / INPUT_MAX, INPUT_MAX / amax);
    let mut block =
        InputBlock { hi: [MaybeUninit::uninit(); BLOCK], lo: [MaybeUninit::uninit(); BLOCK] };
    for start in (0..stride).step_by(BLOCK) {
        let end = stride.min(start + BLOCK);
        let (hi, lo) = (&mut block.hi[..end - start], &mut block.lo[..end - start]);
        let sums = quantize(&x[start..end], inv, hi, lo);
        // SAFETY: every element of both planes was written just above.
        let (hi, lo) = unsafe { (written(hi), written(lo)) };
        let bias = (start == 0).then_some(bias);
        dots(&Dots { rows: m, cols: start..end, hi, lo, sums, sx, bias }, y);
    }
}

/// `y = bias + W x` for the int8 rows `m` (as many as `y` has) on `isa`.
pub fn matvec(isa: Isa, m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    match isa {
        Isa::Portable => portable::matvec(m, x, bias, y),
        // SAFETY (all arms below): the variant exists only when detection found its
        // features; each kernel checks for the further ones it needs.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::matvec_avx2(m, x, bias, y) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::matvec_avx512(m, x, bias, y) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { neon::matvec(m, x, bias, y) },
    }
}
