//! The three matrix products the fused scan needs, over row-major slices, through the
//! `gemm` crate (the one candle uses). Each checks its slices' lengths so that the
//! unsafe call below it only ever reads and writes inside them.

use gemm::Parallelism;

use super::Real;

/// Products smaller than this many multiply-adds run on one thread: below it, waking the
/// pool costs more than the second core gives.
const PARALLEL_MIN_MACS: usize = 1 << 17;

fn parallelism(threads: usize, m: usize, n: usize, k: usize) -> Parallelism {
    if threads > 1 && m * n * k >= PARALLEL_MIN_MACS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// One product `dst (+)= lhs * rhs` with explicit strides (in elements).
#[allow(clippy::too_many_arguments)]
fn product<T: Real>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    lhs: (&[T], usize, usize),
    rhs: (&[T], usize, usize),
    threads: usize,
) {
    let extent = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(dst.len() >= m * n, "gemm destination too short");
    assert!(lhs.0.len() >= extent(m, k, lhs.1, lhs.2), "gemm lhs too short");
    assert!(rhs.0.len() >= extent(k, n, rhs.1, rhs.2), "gemm rhs too short");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    // SAFETY: the asserts above bound every element the strides reach, and dst does not
    // alias lhs or rhs (a &mut and two & borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism(threads, m, n, k),
        );
    }
}

/// `y[rows, out] (+)= x[rows, in] * w[out, in]^T`, a linear layer's forward product.
pub fn x_wt<T: Real>(
    y: &mut [T],
    accumulate: bool,
    x: &[T],
    w: &[T],
    (rows, inp, out): (usize, usize, usize),
    threads: usize,
) {
    product((rows, out, inp), y, accumulate, (x, inp, 1), (w, 1, inp), threads);
}

/// `m` (`rows x cols`, row-major) transposed.
pub fn transposed<T: Copy>(m: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..cols).flat_map(|c| m[c..].iter().step_by(cols).take(rows).copied()).collect()
}

/// `y[rows, out] (+)= x[rows, in] * wt[in, out]`, the same product from the weights
/// transposed (row-major as gemm reads them without packing).
pub fn x_w<T: Real>(
    y: &mut [T],
    accumulate: bool,
    x: &[T],
    wt: &[T],
    (rows, inp, out): (usize, usize, usize),
    threads: usize,
) {
    product((rows, out, inp), y, accumulate, (x, inp, 1), (wt, out, 1), threads);
}

/// `dx[rows, in] (+)= dy[rows, out] * w[out, in]`, the gradient a linear layer passes back.
pub fn dy_w<T: Real>(
    dx: &mut [T],
    accumulate: bool,
    dy: &[T],
    w: &[T],
    (rows, inp, out): (usize, usize, usize),
    threads: usize,
) {
    product((rows, inp, out), dx, accumulate, (dy, out, 1), (w, inp, 1), threads);
}

/// `dw[out, in] (+)= dy[rows, out]^T * x[rows, in]`, a weight's gradient over all rows.
pub fn dyt_x<T: Real>(
    dw: &mut [T],
    accumulate: bool,
    dy: &[T],
    x: &[T],
    (rows, inp, out): (usize, usize, usize),
    threads: usize,
) {
    product((out, inp, rows), dw, accumulate, (dy, 1, out), (x, inp, 1), threads);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn the_three_products_match_a_naive_product() {
        let (r, i, o) = (5, 7, 3);
        let x: Vec<f64> = (0..r * i).map(|v| (v as f64 * 0.37).sin()).collect();
        let w: Vec<f64> = (0..o * i).map(|v| (v as f64 * 0.11).cos()).collect();
        let dy: Vec<f64> = (0..r * o).map(|v| (v as f64 * 0.53).sin()).collect();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12);

        let mut y = vec![0.0; r * o];
        x_wt(&mut y, false, &x, &w, (r, i, o), 1);
        assert!(close(&y, &naive(&x, &transposed(&w, o, i), r, i, o)));
        let mut y_t = vec![0.0; r * o];
        x_w(&mut y_t, false, &x, &transposed(&w, o, i), (r, i, o), 1);
        assert!(close(&y_t, &y));

        let mut dx = vec![1.0; r * i];
        dy_w(&mut dx, true, &dy, &w, (r, i, o), 1);
        let want: Vec<f64> = naive(&dy, &w, r, o, i).iter().map(|v| v + 1.0).collect();
        assert!(close(&dx, &want));

        let mut dw = vec![0.0; o * i];
        dyt_x(&mut dw, false, &dy, &x, (r, i, o), 1);
        assert!(close(&dw, &naive(&transposed(&dy, r, o), &x, o, r, i)));
    }
}
