//! The fused ops' large buffers, made and passed over on rayon's threads. Zero-filling an
//! output before a product writes it, adding a bias to every row and masking a gradient by
//! a ReLU were serial passes on the thread that walks candle's graph while the other cores
//! waited: the main share of what kept a second core from doubling a step's speed.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Elements per chunk a thread takes: enough work to outweigh handing it over, and no
/// hand-over at all below it.
pub(crate) const CHUNK: usize = 1 << 15;

/// A vector of `len` values whose chunks `write` initialises side by side: it is given each
/// chunk's first index and must write every element of the chunk (only this module's
/// functions call it, each writing all of them).
fn written_in_chunks(
    len: usize,
    chunk: usize,
    write: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, c)| write(i * chunk.max(1), c));
    // SAFETY: every chunk of the first `len` elements was written just above.
    unsafe { v.set_len(len) };
    v
}

/// `len` zeros: the start of a product that overwrites them or of a sum.
pub fn zeros(len: usize) -> Vec<f32> {
    written_in_chunks(len, CHUNK, |_, c| c.fill(MaybeUninit::new(0.0)))
}

/// `row` repeated `rows` times, one after another: a bias on every row before the product
/// adds onto it.
pub fn rows_of(row: &[f32], rows: usize) -> Vec<f32> {
    let width = row.len().max(1);
    let per = (CHUNK / width).max(1) * width;
    written_in_chunks(rows * row.len(), per, |_, c| {
        for r in c.chunks_exact_mut(width) {
            r.iter_mut().zip(row).for_each(|(slot, &b)| *slot = MaybeUninit::new(b));
        }
    })
}

/// ReLU in place.
pub fn relu_in_place(v: &mut [f32]) {
    v.par_chunks_mut(CHUNK).for_each(|c| c.iter_mut().for_each(|x| *x = x.max(0.0)));
}

/// The gradient `grad` passed back through a ReLU whose output was `y`: kept where y > 0.
pub fn relu_masked(grad: &[f32], y: &[f32]) -> Vec<f32> {
    assert_eq!(grad.len(), y.len(), "a ReLU's gradient and output of different lengths");
    written_in_chunks(grad.len(), CHUNK, |start, c| {
        let (g, y) = (&grad[start..][..c.len()], &y[start..][..c.len()]);
        for ((slot, &g), &y) in c.iter_mut().zip(g).zip(y) {
            *slot = MaybeUninit::new(if y > 0.0 { g } else { 0.0 });
        }
    })
}

/// `sum += part`, element by element.
pub fn add_into(sum: &mut [f32], part: &[f32]) {
    assert_eq!(sum.len(), part.len(), "a sum and its part of different lengths");
    sum.par_chunks_mut(CHUNK)
        .zip(part.par_chunks(CHUNK))
        .for_each(|(s, p)| s.iter_mut().zip(p).for_each(|(s, p)| *s += p));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_what_a_serial_pass_gives() {
        // Lengths around the chunk size, so that the last chunk is partial or empty.
        for len in [0, 1, 7, CHUNK - 1, CHUNK, 3 * CHUNK + 5] {
            assert!(zeros(len).iter().all(|&v| v == 0.0) && zeros(len).len() == len);
            let grad: Vec<f32> = (0..len).map(|i| (i as f32 * 0.7).sin()).collect();
            let y: Vec<f32> = (0..len).map(|i| (i as f32 * 0.3).cos()).collect();
            let want: Vec<f32> =
                grad.iter().zip(&y).map(|(&g, &y)| if y > 0.0 { g } else { 0.0 }).collect();
            assert_eq!(relu_masked(&grad, &y), want);
            let mut sum = grad.clone();
            add_into(&mut sum, &y);
            let want: Vec<f32> = grad.iter().zip(&y).map(|(g, y)| g + y).collect();
            assert_eq!(sum, want);
            let mut r = y.clone();
            relu_in_place(&mut r);
            assert_eq!(r, y.iter().map(|v| v.max(0.0)).collect::<Vec<_>>());
        }
        for (width, rows) in [(3, 5), (1000, 100), (CHUNK + 1, 2), (0, 4), (4, 0)] {
            let row: Vec<f32> = (0..width).map(|i| i as f32 - 1.5).collect();
            assert_eq!(rows_of(&row, rows), row.repeat(rows));
        }
    }
}
