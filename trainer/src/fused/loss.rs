//! The loss terms as candle ops with their own backward passes: the decoder's Gaussian
//! negative log-likelihood, straight from the sigma head's raw output, and the KL between
//! the posterior and the conditional prior. Candle's graph spends about a dozen
//! element-wise operations on each term forward (the softplus, the floor, the square, the
//! logs) and as many backward, every one a pass over memory and an allocation; here each
//! term is one pass forward and one backward, rows cut across the threads.
//!
//! Every value is per row: row r's terms read row r of each argument and nothing else, so
//! the rows are cut into pieces without changing a bit of the result.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::scan::SIGMA_FLOOR;
use super::{buffers, c, contiguous, wide, with_values, Real};

/// ln(2 pi) / 2, the Gaussian NLL's constant (the reference graph's too).
pub(crate) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// -log N(x; mu, s^2) summed over each frame, per mixture component: `x` `[rows, f]`,
/// `mu` and `sigma_raw` `[rows, k * f]` (component j's frame at j * f), s =
/// softplus(sigma_raw) + floor. Gives `[rows, k]`.
pub fn gaussian_nll(x: &Tensor, mu: &Tensor, sigma_raw: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(
        &mu.contiguous()?,
        &sigma_raw.contiguous()?,
        Nll { threads: candle_core::utils::get_num_threads() },
    )
}

/// KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) summed over each row: `posterior` `[rows, 2z]`
/// (mu_q, then s_q), `mu_p` and `sigma_raw_p` `[rows, z]`, s_p = softplus(sigma_raw_p) +
/// floor. Gives `[rows]`.
pub fn gaussian_kl(
    posterior: &Tensor,
    mu_p: &Tensor,
    sigma_raw_p: &Tensor,
) -> candle_core::Result<Tensor> {
    posterior.contiguous()?.apply_op3(
        &mu_p.contiguous()?,
        &sigma_raw_p.contiguous()?,
        Kl { threads: candle_core::utils::get_num_threads() },
    )
}

/// s = softplus(raw) + floor.
#[inline(always)]
fn sigma<T: Real>(raw: T) -> T {
    raw.fast_softplus() + c(SIGMA_FLOOR)
}

/// The sum of `v` in eight interleaved partial sums, added in a fixed order: the compiler
/// keeps them in a vector register, where one running sum would serialise every add.
#[inline(always)]
fn lane_sum<T: Real>(v: &[T]) -> T {
    let (chunks, tail) = v.as_chunks::<8>();
    let mut acc = [T::zero(); 8];
    for chunk in chunks {
        for l in 0..8 {
            acc[l] = acc[l] + chunk[l];
        }
    }
    let mut sum = T::zero();
    for &a in acc.iter().chain(tail) {
        sum = sum + a;
    }
    sum
}

// The loops below index slices cut to their length instead of chaining iterator adapters:
// std's adapters are functions of their own, left outside `wide`'s AVX2 code when not
// inlined, where a range loop always inlines (and the bounds checks fold away).

/// The NLL of `x.len() / f` rows: `out` `[rows, k]`. Each frame's terms go through
/// `terms` so that the transcendental functions run as vectors.
#[inline(always)]
pub fn nll_forward<T: Real>(x: &[T], mu: &[T], raw: &[T], f: usize, out: &mut [T]) {
    let k = mu.len() / x.len().max(1);
    let mut terms = vec![T::zero(); f];
    let constant = c::<T>(HALF_LN_2PI * f as f64);
    for (rj, out) in out.iter_mut().enumerate() {
        let (x, at) = (&x[rj / k * f..][..f], rj * f);
        let (mu, raw, terms) = (&mu[at..][..f], &raw[at..][..f], &mut terms[..f]);
        for i in 0..f {
            let s = sigma(raw[i]);
            let d = (x[i] - mu[i]) / s;
            terms[i] = c::<T>(0.5) * d * d + s.fast_ln();
        }
        *out = lane_sum(terms) + constant;
    }
}

/// The NLL's gradients for `x.len() / f` rows given the output's `grad` `[rows, k]`: into
/// `dmu` and `draw` `[rows, k * f]`, and into `dx` `[rows, f]` when asked.
#[inline(always)]
pub fn nll_backward<T: Real>(
    (x, mu, raw): (&[T], &[T], &[T]),
    f: usize,
    grad: &[T],
    (dmu, draw): (&mut [T], &mut [T]),
    mut dx: Option<&mut [T]>,
) {
    let k = mu.len() / x.len().max(1);
    for (rj, &g) in grad.iter().enumerate() {
        let (r, at) = (rj / k, rj * f);
        let (x, mu, raw) = (&x[r * f..][..f], &mu[at..][..f], &raw[at..][..f]);
        let (dmu, draw) = (&mut dmu[at..][..f], &mut draw[at..][..f]);
        for i in 0..f {
            // One division: d(nll)/dmu = -d/s, d(nll)/ds = (1 - d^2)/s with d = (x - mu)/s.
            let inv_s = T::one() / sigma(raw[i]);
            let d = (x[i] - mu[i]) * inv_s;
            dmu[i] = -g * d * inv_s;
            draw[i] = g * (T::one() - d * d) * inv_s * raw[i].gate_sigmoid();
        }
        if let Some(dx) = dx.as_deref_mut() {
            let dx = &mut dx[r * f..][..f];
            for i in 0..f {
                dx[i] = dx[i] - dmu[i];
            }
        }
    }
}

/// The KL of `mu_p.len() / z` rows: `out` `[rows]`.
#[inline(always)]
pub fn kl_forward<T: Real>(q: &[T], mu_p: &[T], raw_p: &[T], z: usize, out: &mut [T]) {
    let mut terms = vec![T::zero(); z];
    for (r, out) in out.iter_mut().enumerate() {
        let (mq, sq) = q[2 * r * z..][..2 * z].split_at(z);
        let (mp, rp, terms) = (&mu_p[r * z..][..z], &raw_p[r * z..][..z], &mut terms[..z]);
        for i in 0..z {
            let sp = sigma(rp[i]);
            let dm = mq[i] - mp[i];
            terms[i] = (sp / sq[i]).fast_ln() + (sq[i] * sq[i] + dm * dm) / (c::<T>(2.0) * sp * sp);
        }
        *out = lane_sum(terms) - c(0.5 * z as f64);
    }
}

/// The KL's gradients for `mu_p.len() / z` rows given the output's `grad` `[rows]`: into
/// `dq` `[rows, 2z]`, `dmu_p` and `draw_p` `[rows, z]`.
#[inline(always)]
pub fn kl_backward<T: Real>(
    (q, mu_p, raw_p): (&[T], &[T], &[T]),
    z: usize,
    grad: &[T],
    (dq, dmu_p, draw_p): (&mut [T], &mut [T], &mut [T]),
) {
    for (r, &g) in grad.iter().enumerate() {
        let (mq, sq) = q[2 * r * z..][..2 * z].split_at(z);
        let (dmq, dsq) = dq[2 * r * z..][..2 * z].split_at_mut(z);
        let (mp, rp) = (&mu_p[r * z..][..z], &raw_p[r * z..][..z]);
        let (dmp, drp) = (&mut dmu_p[r * z..][..z], &mut draw_p[r * z..][..z]);
        for i in 0..z {
            let inv_sp = T::one() / sigma(rp[i]);
            let (dm, inv_var) = (mq[i] - mp[i], inv_sp * inv_sp);
            dmq[i] = g * dm * inv_var;
            dsq[i] = g * (sq[i] * inv_var - T::one() / sq[i]);
            dmp[i] = -g * dm * inv_var;
            let spread = (sq[i] * sq[i] + dm * dm) * inv_var;
            drp[i] = g * (T::one() - spread) * inv_sp * rp[i].gate_sigmoid();
        }
    }
}

/// Rows per piece: one piece per thread.
fn piece_rows(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads.max(1)).max(1)
}

struct Nll {
    threads: usize,
}

impl CustomOp3 for Nll {
    fn name(&self) -> &'static str {
        "vrnn-fused-gaussian-nll"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, f) = l1.shape().dims2()?;
        let kf = l2.shape().dims2()?.1;
        if f == 0 || kf % f != 0 || l2.shape() != l3.shape() || l2.shape().dims2()?.0 != rows {
            candle_core::bail!(
                "fused Gaussian NLL: frames {:?}, means {:?}, deviations {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let (x, mu, raw) = (
            contiguous(s1, l1, "the NLL's frames")?,
            contiguous(s2, l2, "the NLL's means")?,
            contiguous(s3, l3, "the NLL's deviations")?,
        );
        let k = kf / f;
        let per = piece_rows(rows, self.threads);
        let mut out = buffers::zeros(rows * k);
        out.par_chunks_mut(per * k).enumerate().for_each(|(p, out)| {
            let r0 = p * per;
            let n = out.len() / k;
            let (x, mu, raw) =
                (&x[r0 * f..][..n * f], &mu[r0 * kf..][..n * kf], &raw[r0 * kf..][..n * kf]);
            wide(
                #[inline(always)]
                || nll_forward(x, mu, raw, f, out),
            );
        });
        Ok((CpuStorage::F32(out), Shape::from((rows, k))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        mu: &Tensor,
        raw: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let ((rows, f), kf) = (x.dims2()?, mu.dims2()?.1);
        let per = piece_rows(rows, self.threads);
        let grad = grad_res.contiguous()?;
        let (mut dmu, mut draw) = (buffers::zeros(rows * kf), buffers::zeros(rows * kf));
        let mut dx = x.track_op().then(|| buffers::zeros(rows * f));
        let args = [
            (x, "the NLL's frames"),
            (mu, "the NLL's means"),
            (raw, "the NLL's deviations"),
            (&grad, "the NLL's output gradient"),
        ];
        with_values(args, |[xs, ms, rs, gs]| {
            let k = kf / f;
            let dx_pieces: Vec<Option<&mut [f32]>> = match dx.as_mut() {
                Some(dx) => dx.chunks_mut(per * f).map(Some).collect(),
                None => (0..rows.div_ceil(per)).map(|_| None).collect(),
            };
            dmu.par_chunks_mut(per * kf)
                .zip(draw.par_chunks_mut(per * kf))
                .zip(dx_pieces)
                .enumerate()
                .for_each(|(p, ((dmu, draw), dx))| {
                    let (r0, n) = (p * per, dmu.len() / kf);
                    let args = (
                        &xs[r0 * f..][..n * f],
                        &ms[r0 * kf..][..n * kf],
                        &rs[r0 * kf..][..n * kf],
                    );
                    let grad = &gs[r0 * k..][..n * k];
                    wide(
                        #[inline(always)]
                        || nll_backward(args, f, grad, (dmu, draw), dx),
                    );
                });
            Ok(())
        })?;
        let dev = x.device();
        Ok((
            dx.map(|dx| Tensor::from_vec(dx, (rows, f), dev)).transpose()?,
            Some(Tensor::from_vec(dmu, (rows, kf), dev)?),
            Some(Tensor::from_vec(draw, (rows, kf), dev)?),
        ))
    }
}

struct Kl {
    threads: usize,
}

impl CustomOp3 for Kl {
    fn name(&self) -> &'static str {
        "vrnn-fused-gaussian-kl"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, z) = l2.shape().dims2()?;
        if l1.shape().dims2()? != (rows, 2 * z) || l2.shape() != l3.shape() {
            candle_core::bail!(
                "fused Gaussian KL: posterior {:?}, prior means {:?}, deviations {:?}",
                l1.shape(),
                l2.shape(),
                l3.shape()
            );
        }
        let (q, mu_p, raw_p) = (
            contiguous(s1, l1, "the KL's posterior")?,
            contiguous(s2, l2, "the KL's prior means")?,
            contiguous(s3, l3, "the KL's prior deviations")?,
        );
        let per = piece_rows(rows, self.threads);
        let mut out = buffers::zeros(rows);
        out.par_chunks_mut(per).enumerate().for_each(|(p, out)| {
            let (r0, n) = (p * per, out.len());
            let q = &q[2 * r0 * z..][..2 * n * z];
            let (mu_p, raw_p) = (&mu_p[r0 * z..][..n * z], &raw_p[r0 * z..][..n * z]);
            wide(
                #[inline(always)]
                || kl_forward(q, mu_p, raw_p, z, out),
            );
        });
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(
        &self,
        q: &Tensor,
        mu_p: &Tensor,
        raw_p: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, z) = mu_p.dims2()?;
        let per = piece_rows(rows, self.threads);
        let grad = grad_res.contiguous()?;
        let mut dq = buffers::zeros(rows * 2 * z);
        let (mut dmu, mut draw) = (buffers::zeros(rows * z), buffers::zeros(rows * z));
        let args = [
            (q, "the KL's posterior"),
            (mu_p, "the KL's prior means"),
            (raw_p, "the KL's prior deviations"),
            (&grad, "the KL's output gradient"),
        ];
        with_values(args, |[qs, ms, rs, gs]| {
            dq.par_chunks_mut(per * 2 * z)
                .zip(dmu.par_chunks_mut(per * z))
                .zip(draw.par_chunks_mut(per * z))
                .enumerate()
                .for_each(|(p, ((dq, dmu), draw))| {
                    let (r0, n) = (p * per, dmu.len() / z);
                    let args = (
                        &qs[2 * r0 * z..][..2 * n * z],
                        &ms[r0 * z..][..n * z],
                        &rs[r0 * z..][..n * z],
                    );
                    let grad = &gs[r0..][..n];
                    wide(
                        #[inline(always)]
                        || kl_backward(args, z, grad, (dq, dmu, draw)),
                    );
                });
            Ok(())
        })?;
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, (rows, 2 * z), dev)?),
            Some(Tensor::from_vec(dmu, (rows, z), dev)?),
            Some(Tensor::from_vec(draw, (rows, z), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrnn_core::Rng;

    fn random(rng: &mut Rng, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| (rng.uniform() as f64 * 2.0 - 1.0) * scale).collect()
    }

    /// The largest gap between `analytic` and central differences of `f` at `v`, relative
    /// to the gradient's largest element.
    fn worst_gap(v: &[f64], analytic: &[f64], f: &dyn Fn(&[f64]) -> f64) -> f64 {
        let step = 1e-6;
        let scale = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        (0..v.len())
            .map(|i| {
                let (mut up, mut down) = (v.to_vec(), v.to_vec());
                up[i] += step;
                down[i] -= step;
                let numeric = (f(&up) - f(&down)) / (2.0 * step);
                (numeric - analytic[i]).abs() / scale
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn nll_gradients_match_central_differences() {
        let (rows, k, f) = (3, 2, 5);
        let mut rng = Rng::new(3);
        let x = random(&mut rng, rows * f, 1.0);
        let mu = random(&mut rng, rows * k * f, 1.0);
        let raw = random(&mut rng, rows * k * f, 2.0);
        let probe = random(&mut rng, rows * k, 1.0);
        let objective = |x: &[f64], mu: &[f64], raw: &[f64]| {
            let mut out = vec![0.0; rows * k];
            nll_forward(x, mu, raw, f, &mut out);
            out.iter().zip(&probe).map(|(a, b)| a * b).sum::<f64>()
        };
        let (mut dmu, mut draw, mut dx) =
            (vec![0.0; mu.len()], vec![0.0; mu.len()], vec![0.0; x.len()]);
        nll_backward((&x, &mu, &raw), f, &probe, (&mut dmu, &mut draw), Some(&mut dx));
        let gaps = [
            worst_gap(&x, &dx, &|v| objective(v, &mu, &raw)),
            worst_gap(&mu, &dmu, &|v| objective(&x, v, &raw)),
            worst_gap(&raw, &draw, &|v| objective(&x, &mu, v)),
        ];
        assert!(gaps.iter().all(|&g| g < 1e-7), "x, mu, raw sigma: {gaps:?}");
    }

    #[test]
    fn kl_gradients_match_central_differences() {
        let (rows, z) = (4, 3);
        let mut rng = Rng::new(5);
        let mut q = random(&mut rng, rows * 2 * z, 1.0);
        // The posterior's deviations are positive (softplus plus a floor in the scan).
        for r in 0..rows {
            q[(2 * r + 1) * z..][..z].iter_mut().for_each(|s| *s = s.abs() + 0.1);
        }
        let mu_p = random(&mut rng, rows * z, 1.0);
        let raw_p = random(&mut rng, rows * z, 2.0);
        let probe = random(&mut rng, rows, 1.0);
        let objective = |q: &[f64], mu: &[f64], raw: &[f64]| {
            let mut out = vec![0.0; rows];
            kl_forward(q, mu, raw, z, &mut out);
            out.iter().zip(&probe).map(|(a, b)| a * b).sum::<f64>()
        };
        let (mut dq, mut dmu, mut draw) =
            (vec![0.0; q.len()], vec![0.0; mu_p.len()], vec![0.0; raw_p.len()]);
        kl_backward((&q, &mu_p, &raw_p), z, &probe, (&mut dq, &mut dmu, &mut draw));
        let gaps = [
            worst_gap(&q, &dq, &|v| objective(v, &mu_p, &raw_p)),
            worst_gap(&mu_p, &dmu, &|v| objective(&q, v, &raw_p)),
            worst_gap(&raw_p, &draw, &|v| objective(&q, &mu_p, v)),
        ];
        assert!(gaps.iter().all(|&g| g < 1e-7), "posterior, prior mu, raw sigma: {gaps:?}");
    }

    /// Where the CPU has AVX2, `wide` runs the loops as 8-wide vectors; the baseline build
    /// runs them 4-wide. Neither may change a bit.
    #[test]
    fn wide_loops_give_the_baseline_bits() {
        let (rows, k, f, z) = (5, 2, 37, 11);
        let mut rng = Rng::new(9);
        let mut floats = |n: usize, scale: f64| -> Vec<f32> {
            random(&mut rng, n, scale).into_iter().map(|v| v as f32).collect()
        };
        let (x, mu, raw) =
            (floats(rows * f, 2.0), floats(rows * k * f, 2.0), floats(rows * k * f, 6.0));
        let grad = floats(rows * k, 1.0);
        let mut q = floats(rows * 2 * z, 1.0);
        for r in 0..rows {
            q[(2 * r + 1) * z..][..z].iter_mut().for_each(|s| *s = s.abs() + 0.05);
        }
        let (mu_p, raw_p, grad_kl) =
            (floats(rows * z, 1.0), floats(rows * z, 6.0), floats(rows, 1.0));
        let bits = |vs: &[Vec<f32>]| -> Vec<Vec<u32>> {
            vs.iter().map(|v| v.iter().map(|x| x.to_bits()).collect()).collect()
        };
        let nll_args = (&x[..], &mu[..], &raw[..], &grad[..]);
        let narrow = nll(nll_args, f);
        let wide_nll = wide(
            #[inline(always)]
            || nll(nll_args, f),
        );
        assert_eq!(bits(&narrow), bits(&wide_nll), "NLL");
        let kl_args = (&q[..], &mu_p[..], &raw_p[..], &grad_kl[..]);
        let wide_kl = wide(
            #[inline(always)]
            || kl(kl_args, z),
        );
        assert_eq!(bits(&kl(kl_args, z)), bits(&wide_kl), "KL");
    }

    /// Both NLL passes: the values, then the mu, raw sigma and x gradients.
    #[inline(always)]
    fn nll((x, mu, raw, grad): (&[f32], &[f32], &[f32], &[f32]), f: usize) -> [Vec<f32>; 4] {
        let mut out = vec![0.0f32; grad.len()];
        nll_forward(x, mu, raw, f, &mut out);
        let (mut dmu, mut draw, mut dx) =
            (vec![0.0; mu.len()], vec![0.0; mu.len()], vec![0.0; x.len()]);
        nll_backward((x, mu, raw), f, grad, (&mut dmu, &mut draw), Some(&mut dx));
        [out, dmu, draw, dx]
    }

    /// Both KL passes: the values, then the posterior, prior mu and raw sigma gradients.
    #[inline(always)]
    fn kl((q, mu_p, raw_p, grad): (&[f32], &[f32], &[f32], &[f32]), z: usize) -> [Vec<f32>; 4] {
        let mut out = vec![0.0f32; grad.len()];
        kl_forward(q, mu_p, raw_p, z, &mut out);
        let (mut dq, mut dmu, mut draw) =
            (vec![0.0; q.len()], vec![0.0; mu_p.len()], vec![0.0; raw_p.len()]);
        kl_backward((q, mu_p, raw_p), z, grad, (&mut dq, &mut dmu, &mut draw));
        [out, dq, dmu, draw]
    }

    #[test]
    fn kl_of_identical_gaussians_is_zero() {
        let z = 4;
        let raw = [0.3f64, -1.0, 2.0, 0.0];
        let mu = [0.5f64, -0.2, 1.0, 0.0];
        let mut q = mu.to_vec();
        q.extend(raw.iter().map(|&r| sigma(r)));
        let mut out = [1.0f64];
        kl_forward(&q, &mu, &raw, z, &mut out);
        assert!(out[0].abs() < 1e-12, "{}", out[0]);
    }
}
