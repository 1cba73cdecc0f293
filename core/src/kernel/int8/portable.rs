//! The fallback: each panel's sixteen rows summed against both planes, a 64-byte block at a
//! time, in plain integer loops.

use super::{product, quantize_input, Dots, Rows, PANEL, QUAD};

fn dots(d: &Dots, y: &mut [f32]) {
    for p in 0..d.panels() {
        let (mut hi, mut lo) = ([0i32; PANEL], [0i32; PANEL]);
        for (q, block) in d.panel(p).chunks_exact(PANEL * QUAD).enumerate() {
            let (h, l) = (&d.hi[q * QUAD..(q + 1) * QUAD], &d.lo[q * QUAD..(q + 1) * QUAD]);
            for (k, w) in block.chunks_exact(QUAD).enumerate() {
                for c in 0..QUAD {
                    hi[k] += i32::from(w[c]) * i32::from(h[c]);
                    lo[k] += i32::from(w[c]) * i32::from(l[c]);
                }
            }
        }
        d.finish(p, &std::array::from_fn(|k| d.dot(hi[k], lo[k])), y);
    }
}

pub fn matvec(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    product(m, x, bias, y, quantize_input, dots)
}
