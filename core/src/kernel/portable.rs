//! Fallback kernel: eight independent partial sums per row, which any target vectorises.

pub fn matvec(w: &[f32], stride: usize, x: &[f32], bias: &[f32], y: &mut [f32]) {
    for ((row, b), out) in w.chunks_exact(stride).zip(bias).zip(y.iter_mut()) {
        let mut acc = [0.0f32; 8];
        for (wc, xc) in row.chunks_exact(8).zip(x.chunks_exact(8)) {
            for k in 0..8 {
                acc[k] += wc[k] * xc[k];
            }
        }
        *out = b + acc.iter().sum::<f32>();
    }
}
