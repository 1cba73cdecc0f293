//! Fallback kernels: eight independent partial sums per row, which any target vectorises.

use super::{segment, WeightRows, LANES};

fn matvec<T: Copy>(
    panels: bool,
    WeightRows { w, stride, first }: WeightRows<T>,
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
    to_f32: impl Fn(T) -> f32,
) {
    for (i, (b, out)) in bias.iter().zip(y.iter_mut()).enumerate() {
        let mut acc = [0.0f32; 8];
        for (block, xb) in x[..stride].chunks_exact(LANES).enumerate() {
            let seg = &w[segment(panels, stride, first + i, block)..][..LANES];
            for (wc, xc) in seg.chunks_exact(8).zip(xb.chunks_exact(8)) {
                for k in 0..8 {
                    acc[k] += to_f32(wc[k]) * xc[k];
                }
            }
        }
        *out = b + acc.iter().sum::<f32>();
    }
}

pub fn matvec_f32(m: WeightRows<f32>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    matvec(true, m, x, bias, y, |v| v)
}

pub fn matvec_f16(m: WeightRows<u16>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    matvec(true, m, x, bias, y, |v| half::f16::from_bits(v).to_f32())
}

pub fn matvec_bf16(m: WeightRows<u16>, x: &[f32], bias: &[f32], y: &mut [f32]) {
    // A bf16 is the upper half of an f32.
    matvec(false, m, x, bias, y, |v| f32::from_bits((v as u32) << 16))
}
