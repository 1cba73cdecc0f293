//! Fallback kernels: eight independent partial sums per row, which any target vectorises.

fn matvec<T: Copy>(
    w: &[T],
    stride: usize,
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
    to_f32: impl Fn(T) -> f32,
) {
    for ((row, b), out) in w.chunks_exact(stride).zip(bias).zip(y.iter_mut()) {
        let mut acc = [0.0f32; 8];
        for (wc, xc) in row.chunks_exact(8).zip(x.chunks_exact(8)) {
            for k in 0..8 {
                acc[k] += to_f32(wc[k]) * xc[k];
            }
        }
        *out = b + acc.iter().sum::<f32>();
    }
}

pub fn matvec_f32(w: &[f32], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    matvec(w, stride, x, bias, y, |v| v)
}

pub fn matvec_f16(w: &[u16], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    matvec(w, stride, x, bias, y, |v| half::f16::from_bits(v).to_f32())
}

pub fn matvec_bf16(w: &[u16], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    // A bf16 is the upper half of an f32.
    matvec(w, stride, x, bias, y, |v| f32::from_bits((v as u32) << 16))
}
