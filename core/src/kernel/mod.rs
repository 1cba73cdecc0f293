//! The hot kernels: f32 matrix-vector products over weights packed at load time, and
//! vectorised activations, with run-time CPU feature dispatch.

mod math;
#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use math::{exp, sigmoid, softplus, tanh};

/// Column padding of packed rows: 16 f32 = 64 bytes, one AVX-512 register or cache line.
pub const LANES: usize = 16;

/// Rounds a vector length up to the kernel's padding.
pub const fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
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
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
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
}

/// A row-major weight matrix whose rows are padded with zeros to a multiple of LANES and
/// start on 64-byte boundaries, so that no vector load straddles two cache lines.
#[derive(Debug)]
pub struct PackedMatrix {
    rows: usize,
    cols: usize,
    stride: usize,
    storage: Vec<f32>,
    /// Index in `storage` of the first 64-byte aligned element.
    offset: usize,
}

impl PackedMatrix {
    /// Packs `rows x cols` row-major weights.
    pub fn new(rows: usize, cols: usize, weights: &[f32]) -> Self {
        assert_eq!(weights.len(), rows * cols, "weights do not match {rows}x{cols}");
        let stride = padded(cols);
        let mut storage = vec![0.0; rows * stride + LANES];
        // The heap block never moves with the Vec, so the offset stays valid.
        let offset = storage.as_ptr().align_offset(LANES * 4).min(LANES);
        let data = &mut storage[offset..offset + rows * stride];
        for (dst, src) in data.chunks_exact_mut(stride).zip(weights.chunks_exact(cols.max(1))) {
            dst[..cols].copy_from_slice(src);
        }
        PackedMatrix { rows, cols, stride, storage, offset }
    }

    fn data(&self) -> &[f32] {
        &self.storage[self.offset..self.offset + self.rows * self.stride]
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

    /// Bytes of weights streamed by one full product.
    pub fn bytes(&self) -> usize {
        self.rows * self.stride * 4
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
        let w = &self.data()[rows.start * self.stride..rows.end * self.stride];
        let bias = &bias[rows.start..rows.end];
        let y = &mut y[..rows.len()];
        let x = &x[..self.stride];
        match isa {
            Isa::Portable => portable::matvec(w, self.stride, x, bias, y),
            // SAFETY: the variant exists only when detection found the feature.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::matvec_avx2(w, self.stride, x, bias, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::matvec_avx512(w, self.stride, x, bias, y) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { neon::matvec(w, self.stride, x, bias, y) },
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
}

pub fn activate(isa: Isa, act: Activation, xs: &mut [f32]) {
    match isa {
        Isa::Portable => math::apply(act, xs),
        // SAFETY: the variant exists only when detection found the feature.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::activate_avx2(act, xs) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::activate_avx512(act, xs) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => math::apply(act, xs),
    }
}
