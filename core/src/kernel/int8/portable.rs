//! The fallback: sixteen independent integer sums per row and plane, which any target
//! vectorises.

use super::{accumulate, product, Dots, Rows};

/// A row's sum of its stored bytes times one plane.
fn plane_sum(row: &[u8], plane: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    for (wc, xc) in row.chunks_exact(16).zip(plane.chunks_exact(16)) {
        for k in 0..16 {
            acc[k] += i32::from(wc[k]) * i32::from(xc[k]);
        }
    }
    acc.iter().sum()
}

fn dots(d: &Dots, y: &mut [f32]) {
    for (r, out) in y.iter_mut().enumerate() {
        let row = d.row(r);
        accumulate(out, d.scale(r), d.sx, d.dot(plane_sum(row, d.hi), plane_sum(row, d.lo)));
    }
}

pub fn matvec(m: Rows, x: &[f32], bias: &[f32], y: &mut [f32]) {
    product(m, x, bias, y, dots)
}
