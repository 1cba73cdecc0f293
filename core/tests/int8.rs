//! int8 weights: exact integer sums, so the same output on every instruction set and
//! however the rows are cut, within the weights' and the input's rounding of the exact
//! product; and a trained voice that follows its f32 self closely.

use std::sync::Arc;

use vrnn_core::builtin::builtin_voice;
use vrnn_core::kernel::{padded, PackedMatrix};
use vrnn_core::{Generator, Isa, Model, Precision, Rng};

fn random(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gaussian() * scale).collect()
}

/// A padded input with `cols` values.
fn input(rng: &mut Rng, cols: usize) -> Vec<f32> {
    let mut x = vec![0.0; padded(cols)];
    x[..cols].copy_from_slice(&random(rng, cols, 1.0));
    x
}

fn product(m: &PackedMatrix, isa: Isa, x: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; m.rows()];
    m.matvec(isa, x, b, &mut y);
    y
}

#[test]
fn int8_products_are_identical_on_every_isa_and_within_rounding_of_the_exact_one() {
    // Rows past a multiple of four and of a sixteen-row panel, enough for four panels at a
    // time and a partial one after them; rows of one 16-column step up to 112, and longer
    // than one 4096-column block.
    for (rows, cols) in
        [(37, 70), (9, 32), (6, 80), (5, 16), (7, 112), (3, 5000), (83, 64), (70, 200)]
    {
        let mut rng = Rng::new(rows as u64 * 31 + cols as u64);
        let w = random(&mut rng, rows * cols, 0.2);
        let b = random(&mut rng, rows, 0.1);
        let x = input(&mut rng, cols);
        let m = PackedMatrix::with_precision(rows, cols, &w, Precision::Int8);
        assert_eq!((m.precision(), m.row_bytes()), (Precision::Int8, padded(cols)));
        let want = product(&m, Isa::Portable, &x, &b);
        for isa in Isa::available() {
            let y = product(&m, isa, &x, &b);
            assert!(y == want, "{isa:?} {rows}x{cols}: differs from the portable kernel");
            // Cut into single rows, then into pieces that start and end inside panels.
            for sizes in [&[1][..], &[7, 13, 19, 1, 35]] {
                let mut parts = vec![0.0; rows];
                let (mut start, mut i) = (0, 0);
                while start < rows {
                    let end = rows.min(start + sizes[i % sizes.len()]);
                    m.matvec_rows(isa, start..end, &x, &b, &mut parts[start..]);
                    (start, i) = (end, i + 1);
                }
                assert!(parts == y, "{isa:?} {rows}x{cols}: rows cut as {sizes:?} differ");
            }
        }
        // A row's scale rounds it with no more squared error than its largest weight /
        // 127 would (at most half that step per weight), so by Cauchy-Schwarz the weights
        // move the sum by at most sqrt(cols) max|w| / 254 |x|; the input is rounded to
        // half of max|x| / (127 * 256).
        let x_max = x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
        let x_norm = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        for (r, got) in want.iter().enumerate() {
            let row = &w[r * cols..(r + 1) * cols];
            let w_max = row.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
            let w_abs: f64 = row.iter().map(|v| v.abs() as f64).sum();
            let exact: f64 =
                b[r] as f64 + row.iter().zip(&x).map(|(a, c)| *a as f64 * *c as f64).sum::<f64>();
            let weights = (cols as f64).sqrt() * w_max / 254.0 * x_norm;
            let input = (w_abs + cols as f64 * w_max / 254.0) * x_max / (2.0 * 127.0 * 256.0);
            let bound = (weights + input) * 1.001 + 1e-6 * (w_abs * x_max + 1.0);
            let err = (*got as f64 - exact).abs();
            assert!(err <= bound, "{rows}x{cols} row {r}: error {err:e} above {bound:e}");
        }
    }
}

/// Every weight at its largest level times every input at its largest: the kernels' 32-bit
/// partial sums run closest to overflow over a whole 4096-column block, and a row's total
/// (about 1.7e10 per block) only fits 64 bits; rows of 512 columns, whose totals the
/// AVX-512 and AVX-VNNI kernels finish in 32 bits, come within 2 % of its limit.
#[test]
fn int8_products_at_full_scale_do_not_overflow_on_any_isa() {
    let cases = [(5, 2 * 4096 + 48), (17, 512)].into_iter().flat_map(|s| [(s, 1.0f32), (s, -1.0)]);
    for ((rows, cols), sign) in cases {
        let w: Vec<f32> =
            (0..rows * cols).map(|i| if i % cols < 4096 { sign } else { 1.0 }).collect();
        let m = PackedMatrix::with_precision(rows, cols, &w, Precision::Int8);
        let mut x = vec![0.0; padded(cols)];
        x[..cols].fill(1.0);
        let b = vec![0.0; rows];
        let want = product(&m, Isa::Portable, &x, &b);
        let signed = cols.min(4096);
        let exact = signed as f32 * sign + (cols - signed) as f32;
        for isa in Isa::available() {
            let y = product(&m, isa, &x, &b);
            assert!(y == want, "{isa:?} sign {sign}: {y:?} differs from the portable {want:?}");
            assert!(y.iter().all(|v| (v - exact).abs() <= 1e-3 * cols as f32), "{isa:?}: {y:?}");
        }
    }
}

#[test]
fn int8_products_of_zero_and_non_finite_inputs() {
    let mut rng = Rng::new(4);
    let (rows, cols) = (6, 40);
    let m = PackedMatrix::with_precision(
        rows,
        cols,
        &random(&mut rng, rows * cols, 0.3),
        Precision::Int8,
    );
    let b = random(&mut rng, rows, 1.0);
    for isa in Isa::available() {
        assert_eq!(product(&m, isa, &vec![0.0; padded(cols)], &b), b, "{isa:?}: zero input");
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = input(&mut rng, cols);
            x[17] = bad;
            let y = product(&m, isa, &x, &b);
            assert!(y.iter().all(|v| !v.is_finite()), "{isa:?}: input {bad} gave {y:?}");
        }
    }
    // An all-zero row has scale 0 and gives its bias.
    let mut w = random(&mut rng, rows * cols, 0.3);
    w[..cols].fill(0.0);
    let m = PackedMatrix::with_precision(rows, cols, &w, Precision::Int8);
    assert_eq!(product(&m, Isa::detect(), &input(&mut rng, cols), &b)[0], b[0]);
}

#[test]
fn int8_repacks_to_the_weights_it_holds() {
    let mut rng = Rng::new(9);
    let (rows, cols) = (5, 24);
    let w = random(&mut rng, rows * cols, 0.5);
    let m = PackedMatrix::with_precision(rows, cols, &w, Precision::Int8);
    let back = m.repacked(Precision::F32);
    let x = input(&mut rng, cols);
    let b = vec![0.0; rows];
    // The dequantised weights times the same input, in f32, against the int8 product.
    for (got, want) in
        product(&m, Isa::Portable, &x, &b).iter().zip(product(&back, Isa::Portable, &x, &b))
    {
        assert!((got - want).abs() <= 0.02 * want.abs().max(1.0), "{got} vs {want}");
    }
    // Quantising again changes nothing: each row's largest weight is still 127 steps.
    let again = back.repacked(Precision::Int8);
    assert_eq!(product(&again, Isa::Portable, &x, &b), product(&m, Isa::Portable, &x, &b));
}

/// The built-in voice in int8: the same frames on every instruction set, free-running (the
/// sums are exact; f32 ones differ in order between instruction sets and drift apart), and
/// each frame close to what f32 weights make from the same state.
#[test]
fn the_int8_voice_plays_the_same_everywhere_and_follows_f32() {
    const STEPS: usize = 1000;
    let file = builtin_voice().unwrap();
    let int8 = Arc::new(Model::from_file_with(&file, Precision::Int8).unwrap());
    let f32_model = Arc::new(Model::from_file(&file));
    let run = |isa: Isa| {
        let mut g = Generator::with_isa(int8.clone(), 3, isa);
        (0..STEPS).flat_map(|_| g.step(1.0, 0.3).to_vec()).collect::<Vec<f32>>()
    };
    let want = run(Isa::Portable);
    for isa in Isa::available() {
        assert!(run(isa) == want, "{isa:?}: the int8 voice differs from the portable kernels'");
        let mut reference = Generator::with_isa(f32_model.clone(), 3, isa);
        let mut got = Generator::with_isa(int8.clone(), 3, isa);
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        for _ in 0..STEPS {
            got.continue_from(&reference);
            let a = reference.step(1.0, 0.3);
            let b = got.step(1.0, 0.3);
            diff += a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
            norm += a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
        }
        let err = (diff / norm).sqrt();
        println!("{isa:?}: int8 frames' relative RMS difference from f32: {err:.2e}");
        assert!(err <= 1e-2, "{isa:?}: {err:.2e}");
    }
}
