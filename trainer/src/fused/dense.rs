//! A linear layer, `y = x w^T + b` with an optional ReLU, as one candle op with its own
//! backward pass: the fused engine's phi_x, prior and decoder layers. Candle's graph spends
//! four operations on it forward (the product, the bias broadcast, the ReLU) and more
//! backward (the bias gradient as a strided reduction over every row, the ReLU mask as
//! two element-wise passes); here the bias and the ReLU ride on the product's output.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::gemm::{dy_w, dyt_x, x_wt};
use super::{buffers, contiguous, with_values};

/// `relu(x w^T + b)` or `x w^T + b` for `x` `[rows, in]`, `w` `[out, in]`, `b` `[out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op3(w, b, Dense { relu, threads: candle_core::utils::get_num_threads() })
}

struct Dense {
    relu: bool,
    threads: usize,
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "vrnn-fused-linear"
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
        let (x, w, b) = (
            contiguous(s1, l1, "the fused linear layer's input")?,
            contiguous(s2, l2, "the fused linear layer's weight")?,
            contiguous(s3, l3, "the fused linear layer's bias")?,
        );
        let (rows, inp) = l1.shape().dims2()?;
        let out = b.len();
        if l2.shape().dims2()? != (out, inp) {
            candle_core::bail!(
                "fused linear layer: weight {:?} for input {:?} and bias {out}",
                l2.shape(),
                l1.shape()
            );
        }
        // The product adds onto the bias rows: no zero-fill and no pass to add the bias.
        let mut y = buffers::rows_of(b, rows);
        x_wt(&mut y, true, x, w, (rows, inp, out), self.threads);
        if self.relu {
            buffers::relu_in_place(&mut y);
        }
        Ok((CpuStorage::F32(y), Shape::from((rows, out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (rows, inp) = x.dims2()?;
        let out = b.elem_count();
        let grad = grad_res.contiguous()?;
        // The input's gradient only where something upstream needs it (not for the data
        // phi_x reads).
        let input_gradient = x.track_op();
        let args = [
            (&grad, "the fused linear layer's output gradient"),
            (res, "the fused linear layer's output"),
            (w, "the fused linear layer's weight"),
            (x, "the fused linear layer's input"),
        ];
        let (gx, gw, gb) = with_values(args, |[g, y, w, x]| {
            // The gradient at the pre-activation: the ReLU passes it where its output is > 0.
            let masked;
            let delta = if self.relu {
                masked = buffers::relu_masked(g, y);
                &masked[..]
            } else {
                g
            };
            let gx = input_gradient.then(|| {
                let mut gx = buffers::zeros(rows * inp);
                dy_w(&mut gx, false, delta, w, (rows, inp, out), self.threads);
                gx
            });
            let mut gw = buffers::zeros(out * inp);
            dyt_x(&mut gw, false, delta, x, (rows, inp, out), self.threads);
            let mut gb = vec![0.0f32; out];
            for row in delta.chunks_exact(out.max(1)) {
                gb.iter_mut().zip(row).for_each(|(a, d)| *a += d);
            }
            Ok((gx, gw, gb))
        })?;
        let dev = x.device();
        Ok((
            gx.map(|gx| Tensor::from_vec(gx, (rows, inp), dev)).transpose()?,
            Some(Tensor::from_vec(gw, (out, inp), dev)?),
            Some(Tensor::from_vec(gb, out, dev)?),
        ))
    }
}
