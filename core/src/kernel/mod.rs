//! The hot kernels: matrix-vector products over weights packed at load time (f32, f16 or
//! bf16, always accumulated in f32; or int8, summed exactly in integers), and vectorised
//! activations, with run-time CPU feature dispatch.

#[cfg(target_arch = "x86_64")]
mod bf16_dot;
mod int8;
mod math;
#[cfg(target_arch = "aarch64")]
mod neon;
mod pages;
mod portable;
mod precision;
mod wide;
#[cfg(target_arch = "x86_64")]
mod x86;

pub(crate) use math::round_to_u32;
pub use math::{exp, ln, sigmoid, softplus, tanh};
pub use precision::Precision;
pub use wide::wide;

pub use pages::aligned;

/// Column padding of packed rows: 16 f32 = 64 bytes, one AVX-512 register or cache line.
pub const LANES: usize = 16;

/// Rounds a vector length up to the kernel's padding.
pub const fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// Rows of an f32 or f16 panel: each 16-column block of four consecutive rows is stored
/// whole (row k's 16 values at 16k), so a four-row pass reads one stream through memory
/// instead of four: from L3, rows of 128-512 columns read 12-17 % faster so (Zen 4).
pub const GROUP: usize = 4;

/// Where row `r`'s columns `16 b..16 b + 16` start: in four-row panels or in plain rows.
#[inline(always)]
fn segment(panels: bool, stride: usize, r: usize, b: usize) -> usize {
    if panels {
        (r / GROUP) * GROUP * stride + b * GROUP * LANES + (r % GROUP) * LANES
    } else {
        r * stride + b * LANES
    }
}

/// Whether f32, f16 or bf16 weights are held in four-row panels: bf16 stays in plain rows,
/// since its dot-product kernel loads 32 columns of one row at a time.
fn in_panels(precision: Precision) -> bool {
    precision != Precision::Bf16
}

/// Where weight (`r`, `c`) of rows of `stride` columns lies: in four-row panels or in plain
/// rows.
fn position(panels: bool, stride: usize, r: usize, c: usize) -> usize {
    segment(panels, stride, r, c / LANES) + c % LANES
}

/// Rows a piece of a product held as `storage` should be a multiple of: the int8 kernels
/// compute whole sixteen-row panels (a cut inside one computes it twice); the others share
/// each load of the input among four rows.
pub fn row_group(storage: Precision) -> usize {
    match storage {
        Precision::Int8 => int8::PANEL,
        Precision::F32 | Precision::F16 | Precision::Bf16 => GROUP,
    }
}

/// Instruction set a kernel runs with. Chosen once per Generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Isa {
    /// The fastest instruction set this CPU has.
    pub fn detect() -> Isa {
        *Self::available().last().unwrap_or(&Isa::Portable)
    }

    /// Every instruction set this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            // Every CPU with AVX2 and FMA also has F16C (the f16 weights' conversion).
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                isas.push(Isa::Avx2Fma);
            }
            if is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            isas.push(Isa::Neon);
        }
        isas
    }

    /// Whether this instruction set's kernel for `precision` sums exactly as its f32 kernel
    /// does over the same values widened to f32: then a model may hold such weights as f32
    /// and give the same frames bit for bit. (The AVX-512 bf16 kernels split even and odd
    /// columns, so their sums come in another order.)
    pub fn widens_exactly(self, precision: Precision) -> bool {
        #[cfg(target_arch = "x86_64")]
        let bf16_reordered = self == Isa::Avx512;
        #[cfg(not(target_arch = "x86_64"))]
        let bf16_reordered = false;
        match precision {
            Precision::F32 | Precision::F16 => true,
            Precision::Bf16 => !bf16_reordered,
            Precision::Int8 => false,
        }
    }
}

/// f32, f16 or bf16 weight rows as a kernel reads them: rows of `stride` weights (f32 and
/// f16 in four-row panels, bf16 in plain rows) from the four-row group holding the first
/// row wanted, which is row `first` of `w`.
#[derive(Clone, Copy)]
struct WeightRows<'a, T> {
    w: &'a [T],
    stride: usize,
    first: usize,
}

/// `y = bias + W x`, `y[i]` being row `first + i`.
type Matvec<T> = fn(WeightRows<T>, &[f32], &[f32], &mut [f32]);
/// The same, with CPU features the caller must have checked.
type UnsafeMatvec<T> = unsafe fn(WeightRows<T>, &[f32], &[f32], &mut [f32]);

/// The matrix-vector kernels for one stored weight type, one per instruction set.
struct Kernels<T> {
    portable: Matvec<T>,
    #[cfg(target_arch = "x86_64")]
    avx2: UnsafeMatvec<T>,
    #[cfg(target_arch = "x86_64")]
    avx512: UnsafeMatvec<T>,
    #[cfg(target_arch = "aarch64")]
    neon: UnsafeMatvec<T>,
}

impl<T> Kernels<T> {
    fn run(&self, isa: Isa, m: WeightRows<T>, x: &[f32], bias: &[f32], y: &mut [f32]) {
        match isa {
            Isa::Portable => (self.portable)(m, x, bias, y),
            // SAFETY (all arms below): the variant exists only when detection found the
            // features; `m.w` holds rows `first..first + y.len()` of `stride`, a multiple
            // of LANES (whole panels for f32 and f16).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { (self.avx2)(m, x, bias, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { (self.avx512)(m, x, bias, y) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { (self.neon)(m, x, bias, y) },
        }
    }
}

const F32_KERNELS: Kernels<f32> = Kernels {
    portable: portable::matvec_f32,
    #[cfg(target_arch = "x86_64")]
    avx2: x86::matvec_avx2_f32,
    #[cfg(target_arch = "x86_64")]
    avx512: x86::matvec_avx512_f32,
    #[cfg(target_arch = "aarch64")]
    neon: neon::matvec_f32,
};

const F16_KERNELS: Kernels<u16> = Kernels {
    portable: portable::matvec_f16,
    #[cfg(target_arch = "x86_64")]
    avx2: x86::matvec_avx2_f16,
    #[cfg(target_arch = "x86_64")]
    avx512: x86::matvec_avx512_f16,
    #[cfg(target_arch = "aarch64")]
    neon: neon::matvec_f16,
};

const BF16_KERNELS: Kernels<u16> = Kernels {
    portable: portable::matvec_bf16,
    #[cfg(target_arch = "x86_64")]
    avx2: x86::matvec_avx2_bf16,
    #[cfg(target_arch = "x86_64")]
    avx512: x86::matvec_avx512_bf16,
    #[cfg(target_arch = "aarch64")]
    neon: neon::matvec_bf16,
};

/// Weights as stored: f32, the 16-bit patterns of f16 / bf16 values, or int8 bytes with
/// one scale per row.
#[derive(Debug)]
enum Storage {
    F32(Vec<f32>),
    F16(Vec<u16>),
    Bf16(Vec<u16>),
    Int8 { bytes: Vec<u8>, scales: Vec<f32> },
}

/// A weight matrix whose rows are padded with zeros to a multiple of LANES, held from a
/// 64-byte boundary in four-row panels (f32, f16), plain rows (bf16) or sixteen-row panels
/// (int8), so that no vector load straddles two cache lines.
#[derive(Debug)]
pub struct PackedMatrix {
    rows: usize,
    cols: usize,
    stride: usize,
    storage: Storage,
    /// Index in the storage of the first 64-byte aligned element.
    offset: usize,
}

/// `rows x cols` weights laid out with `stride` from a 64-byte boundary of a buffer of
/// zeros, in four-row panels (the last one padded with zero rows) or in plain rows, each
/// weight converted by `convert`.
fn pack<T: Copy + Default>(
    panels: bool,
    (rows, cols, stride): (usize, usize, usize),
    weights: &[f32],
    convert: impl Fn(f32) -> T,
) -> (Vec<T>, usize) {
    let (mut storage, offset) = aligned(rows.div_ceil(GROUP) * GROUP * stride, T::default());
    for (r, src) in weights.chunks_exact(cols.max(1)).take(rows).enumerate() {
        for (block, src) in src.chunks(LANES).enumerate() {
            let at = offset + segment(panels, stride, r, block);
            storage[at..at + src.len()].iter_mut().zip(src).for_each(|(d, &w)| *d = convert(w));
        }
    }
    (storage, offset)
}

impl PackedMatrix {
    /// Packs `rows x cols` row-major f32 weights.
    pub fn new(rows: usize, cols: usize, weights: &[f32]) -> Self {
        Self::with_precision(rows, cols, weights, Precision::F32)
    }

    /// Packs `rows x cols` row-major weights, rounded to `precision` (to nearest, ties to
    /// even). Values outside f16's range become infinite: `Precision::first_unrepresentable`
    /// finds them before packing.
    pub fn with_precision(rows: usize, cols: usize, weights: &[f32], precision: Precision) -> Self {
        assert_eq!(weights.len(), rows * cols, "weights do not match {rows}x{cols}");
        let stride = padded(cols);
        let (storage, offset) = match precision {
            Precision::F32 => {
                let (v, o) = pack(in_panels(precision), (rows, cols, stride), weights, |w| w);
                (Storage::F32(v), o)
            }
            Precision::F16 => {
                let (v, o) = pack(in_panels(precision), (rows, cols, stride), weights, |w| {
                    half::f16::from_f32(w).to_bits()
                });
                (Storage::F16(v), o)
            }
            Precision::Bf16 => {
                let (v, o) = pack(in_panels(precision), (rows, cols, stride), weights, |w| {
                    half::bf16::from_f32(w).to_bits()
                });
                (Storage::Bf16(v), o)
            }
            Precision::Int8 => {
                let len = int8::panel_bytes(rows, stride);
                let (mut bytes, o) = aligned(len, int8::ZERO);
                let scales = int8::pack(rows, cols, stride, weights, &mut bytes[o..o + len]);
                (Storage::Int8 { bytes, scales }, o)
            }
        };
        PackedMatrix { rows, cols, stride, storage, offset }
    }

    /// The same weights in another format (rounded when narrowing).
    pub fn repacked(&self, precision: Precision) -> Self {
        let mut weights = Vec::with_capacity(self.rows * self.cols);
        let panels = in_panels(self.precision());
        for r in 0..self.rows {
            let at = |c| self.offset + position(panels, self.stride, r, c);
            match &self.storage {
                Storage::F32(v) => weights.extend((0..self.cols).map(|c| v[at(c)])),
                Storage::F16(v) => {
                    weights.extend((0..self.cols).map(|c| half::f16::from_bits(v[at(c)]).to_f32()))
                }
                Storage::Bf16(v) => {
                    weights.extend((0..self.cols).map(|c| half::bf16::from_bits(v[at(c)]).to_f32()))
                }
                Storage::Int8 { bytes, scales } => weights.extend((0..self.cols).map(|c| {
                    int8::dequantize(
                        bytes[self.offset + int8::position(self.stride, r, c)],
                        scales[r],
                    )
                })),
            }
        }
        Self::with_precision(self.rows, self.cols, &weights, precision)
    }

    /// Packs a matrix whose columns are the concatenation of several row-major blocks with
    /// the same number of rows (for example [W_ih | W_hh] for the input [x, h]).
    pub fn hstack(rows: usize, blocks: &[(&[f32], usize)]) -> Self {
        let cols: usize = blocks.iter().map(|b| b.1).sum();
        let mut joined = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for (w, c) in blocks {
                joined.extend_from_slice(&w[r * c..(r + 1) * c]);
            }
        }
        Self::new(rows, cols, &joined)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn precision(&self) -> Precision {
        match self.storage {
            Storage::F32(_) => Precision::F32,
            Storage::F16(_) => Precision::F16,
            Storage::Bf16(_) => Precision::Bf16,
            Storage::Int8 { .. } => Precision::Int8,
        }
    }

    /// Bytes of weights streamed by one row.
    pub fn row_bytes(&self) -> usize {
        self.stride * self.precision().bytes()
    }

    /// Bytes of weights streamed by one full product (int8: whole panels).
    pub fn bytes(&self) -> usize {
        match self.storage {
            Storage::Int8 { .. } => int8::panel_bytes(self.rows, self.stride),
            _ => self.rows * self.row_bytes(),
        }
    }

    /// y[i] = bias[r] + W[r, :] . x for the rows r in `rows`, i = r - rows.start.
    /// `x` must hold at least `padded(cols)` values with zeros past `cols`.
    pub fn matvec_rows(
        &self,
        isa: Isa,
        rows: std::ops::Range<usize>,
        x: &[f32],
        bias: &[f32],
        y: &mut [f32],
    ) {
        // Structural invariants set up at construction; failing one is a bug, not bad input.
        assert!(rows.end <= self.rows && x.len() >= self.stride && bias.len() >= rows.end);
        assert!(y.len() >= rows.len());
        // Whole four-row groups, from the one holding the first row wanted.
        let first = rows.start % GROUP;
        let groups = self.offset + (rows.start - first) * self.stride
            ..self.offset + rows.end.next_multiple_of(GROUP) * self.stride;
        let bias = &bias[rows.start..rows.end];
        let y = &mut y[..rows.len()];
        let x = &x[..self.stride];
        let s = self.stride;
        match &self.storage {
            Storage::F32(v) => {
                F32_KERNELS.run(isa, WeightRows { w: &v[groups], stride: s, first }, x, bias, y)
            }
            Storage::F16(v) => {
                F16_KERNELS.run(isa, WeightRows { w: &v[groups], stride: s, first }, x, bias, y)
            }
            Storage::Bf16(v) => {
                BF16_KERNELS.run(isa, WeightRows { w: &v[groups], stride: s, first }, x, bias, y)
            }
            Storage::Int8 { bytes, scales } => {
                let m = int8::Rows::covering(bytes, self.offset, s, scales, rows);
                int8::matvec(isa, m, x, bias, y)
            }
        }
    }

    pub fn matvec(&self, isa: Isa, x: &[f32], bias: &[f32], y: &mut [f32]) {
        self.matvec_rows(isa, 0..self.rows, x, bias, y)
    }
}

/// Element-wise activations, vectorised for the instruction set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Relu,
    Sigmoid,
    Tanh,
    /// log(1 + e^x): the Gaussian heads' sigma.
    Softplus,
}

pub fn activate(isa: Isa, act: Activation, xs: &mut [f32]) {
    for_isa(
        isa,
        #[inline(always)]
        || math::apply(act, xs),
    )
}

/// Whether every value is finite (no NaN or infinity): an exponent of all ones anywhere,
/// found in one branch-free pass compiled for `isa`.
pub fn all_finite(isa: Isa, xs: &[f32]) -> bool {
    #[inline(always)]
    fn exponents_all_ones(xs: &[f32]) -> u32 {
        const EXPONENT: u32 = 0x7f80_0000;
        let mut found = 0;
        for x in xs {
            found |= u32::from(x.to_bits() & EXPONENT == EXPONENT);
        }
        found
    }
    for_isa(
        isa,
        #[inline(always)]
        || exponents_all_ones(xs),
    ) == 0
}

/// Runs `f` compiled for `isa`'s vectors, with what it inlines: element-wise loops written
/// as `#[inline(always)]` functions that index slices (the closure passed must be marked
/// `#[inline(always)]` too, or it stays a baseline function). The same operations in the
/// same order (Rust never fuses a multiply and an add by itself), so the same bits on
/// every instruction set.
#[inline(always)]
pub fn for_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    match isa {
        // SAFETY: the variant exists only when detection found the features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::with_avx2(f) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::with_avx512(f) },
        _ => f(),
    }
}
