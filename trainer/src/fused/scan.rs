//! The VRNN's recurrent chain over a batch of sequences, forward and backward, by hand:
//! everything that needs h_{t-1} (the encoder after its phi_x part, the reparameterised
//! z_t, phi_z, the cell), nothing that does not. Generic over the float so that the same
//! code is checked against finite differences in f64 and trains in f32.
//!
//! Layouts: the op's input and output are `[batch, steps, width]` rows (candle's order,
//! row b * steps + t); everything kept for the backward pass is `[steps, batch, width]` so
//! that one step's rows are contiguous and the weight gradients are one product each.

use vrnn_core::Cell;

use super::gemm::{dy_w, dyt_x, transposed, x_w};
use super::{c, Real};

/// The decoder's and encoder's standard deviation floor, as in the reference graph.
pub const SIGMA_FLOOR: f64 = 1e-4;

/// Layer widths of the latent part of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentDims {
    /// Widths of the encoder's hidden layers (its first reads [phi_x, h]).
    pub encoder: Vec<usize>,
    pub z: usize,
    /// Widths of phi_z's hidden layers (the last one feeds the cell).
    pub phi_z: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
    pub cell: Cell,
    pub latent: Option<LatentDims>,
    /// Threads the matrix products may use.
    pub threads: usize,
}

/// Where each block of an output row lies, (first column, width): phi_z(z_t) and h_{t-1}
/// side by side so that the decoder's input is one slice of the row, and mu_z and sigma_z
/// side by side so that the KL reads one slice. Without a latent only h, at column 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputLayout {
    pub phi_z: (usize, usize),
    pub h: (usize, usize),
    pub mu: (usize, usize),
    pub sigma: (usize, usize),
}

/// A linear layer's shape within the packed weights: `out x inp`, then `out` biases if any.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearShape {
    pub out: usize,
    pub inp: usize,
    pub bias: bool,
}

impl LinearShape {
    fn len(&self) -> usize {
        self.out * self.inp + if self.bias { self.out } else { 0 }
    }
}

impl Dims {
    pub fn gates(&self) -> usize {
        self.hidden * if self.cell == Cell::Lstm { 4 } else { 3 }
    }

    /// Input row: the gates' input part (phi_x and b_ih), then the encoder's first layer's
    /// phi_x part and bias.
    pub fn input_width(&self) -> usize {
        self.gates() + self.latent.as_ref().map_or(0, |l| l.encoder[0])
    }

    /// Output row: phi_z(z_t), h_{t-1}, mu_z, sigma_z (see `OutputLayout`).
    pub fn output_width(&self) -> usize {
        let o = self.output_layout();
        o.sigma.0 + o.sigma.1
    }

    pub fn output_layout(&self) -> OutputLayout {
        let (pw, z) = self.latent.as_ref().map_or((0, 0), |l| (l.phi_z[l.phi_z.len() - 1], l.z));
        let h = self.hidden;
        OutputLayout { phi_z: (0, pw), h: (pw, h), mu: (pw + h, z), sigma: (pw + h + z, z) }
    }

    /// The packed weights, in order: with a latent the encoder's first layer's h columns
    /// (no bias; it is in the input), its later layers, the mu and sigma heads, phi_z's
    /// layers and the cell's phi_z columns (no bias); always the recurrent weights and bias.
    pub fn linears(&self) -> Vec<LinearShape> {
        let lin = |out, inp, bias| LinearShape { out, inp, bias };
        let mut out = Vec::new();
        if let Some(l) = &self.latent {
            out.push(lin(l.encoder[0], self.hidden, false));
            for w in l.encoder.windows(2) {
                out.push(lin(w[1], w[0], true));
            }
            let top = l.encoder[l.encoder.len() - 1];
            out.push(lin(l.z, top, true));
            out.push(lin(l.z, top, true));
            let mut inp = l.z;
            for &w in &l.phi_z {
                out.push(lin(w, inp, true));
                inp = w;
            }
            out.push(lin(self.gates(), inp, false));
        }
        out.push(lin(self.gates(), self.hidden, true));
        out
    }

    pub fn weight_len(&self) -> usize {
        self.linears().iter().map(LinearShape::len).sum()
    }
}

struct Linear<'a, T> {
    shape: LinearShape,
    w: &'a [T],
    b: &'a [T],
    /// `w` transposed (`inp x out`), for the forward pass only (empty in the backward one):
    /// gemm reads a row-major right-hand side as it is but packs a transposed one on every
    /// call, which with the scan's few rows per product took longer than the product.
    wt: Vec<T>,
}

impl<T: Real> Linear<'_, T> {
    /// `y (+)= x w^T` for `rows` rows.
    fn product(&self, y: &mut [T], accumulate: bool, x: &[T], rows: usize, threads: usize) {
        let s = self.shape;
        x_w(y, accumulate, x, &self.wt, (rows, s.inp, s.out), threads);
    }

    /// `y = x w^T (+ b)` for `rows` rows.
    #[inline(always)]
    fn forward(&self, y: &mut [T], x: &[T], rows: usize, threads: usize) {
        self.product(y, false, x, rows, threads);
        if self.shape.bias {
            for row in y.chunks_exact_mut(self.shape.out).take(rows) {
                add_assign(row, self.b);
            }
        }
    }
}

/// The packed weights cut into layers, in `Dims::linears` order.
struct Weights<'a, T> {
    layers: Vec<Linear<'a, T>>,
}

impl<'a, T: Real> Weights<'a, T> {
    /// Cuts `flat` into layers; `transpose` also keeps each weight transposed (`Linear::wt`).
    fn parse(dims: &Dims, flat: &'a [T], transpose: bool) -> Weights<'a, T> {
        assert_eq!(flat.len(), dims.weight_len(), "packed weights of the wrong length");
        let mut rest = flat;
        let layers = dims
            .linears()
            .into_iter()
            .map(|shape| {
                let (w, r) = rest.split_at(shape.out * shape.inp);
                let (b, r) = r.split_at(if shape.bias { shape.out } else { 0 });
                rest = r;
                let wt = if transpose { transposed(w, shape.out, shape.inp) } else { Vec::new() };
                Linear { shape, w, b, wt }
            })
            .collect();
        Weights { layers }
    }

    fn recurrent(&self) -> &Linear<'a, T> {
        &self.layers[self.layers.len() - 1]
    }

    /// (encoder's h columns, encoder layers after the first, mu, sigma, phi_z, cell's phi_z
    /// columns), given `encoder_layers` and `phi_z_layers`.
    #[allow(clippy::type_complexity)]
    fn latent(
        &self,
        l: &LatentDims,
    ) -> (
        &Linear<'a, T>,
        &[Linear<'a, T>],
        &Linear<'a, T>,
        &Linear<'a, T>,
        &[Linear<'a, T>],
        &Linear<'a, T>,
    ) {
        let e = l.encoder.len();
        let p = l.phi_z.len();
        let v = &self.layers;
        (&v[0], &v[1..e], &v[e], &v[e + 1], &v[e + 2..e + 2 + p], &v[e + 2 + p])
    }
}

/// What the backward pass needs from the forward one, `[steps, batch, width]` each.
pub struct Saved<T> {
    /// h before each step.
    hs: Vec<T>,
    /// Each encoder layer's output (after the ReLU).
    enc: Vec<Vec<T>>,
    /// The sigma head's pre-activation.
    sigma_raw: Vec<T>,
    z: Vec<T>,
    /// Each phi_z layer's output.
    phi_z: Vec<Vec<T>>,
    /// Gate activations: LSTM i, f, g, o; GRU r, u, n.
    gates: Vec<T>,
    /// LSTM: the cell state after each step; GRU: n's recurrent part (W_hn h + b_hn).
    cell: Vec<T>,
}

// `forward` and `backward` are inlined into their callers, which run them under `wide`
// (AVX2 where the CPU has it); their element-wise loops index slices rather than chain
// iterator adapters, and are inlined too: an adapter's closure body lives in a function of
// its own, outside the AVX2 code.

#[inline(always)]
fn relu<T: Real>(v: &mut [T]) {
    for x in v {
        *x = x.max(T::zero());
    }
}

/// `sum += part`, element by element.
#[inline(always)]
fn add_assign<T: Real>(sum: &mut [T], part: &[T]) {
    let part = &part[..sum.len()];
    for i in 0..sum.len() {
        sum[i] = sum[i] + part[i];
    }
}

/// Copies `width` columns at `col` of each step-`t` row of a `[batch, steps, stride]` array
/// into a contiguous `[batch, width]` block, or back with `from_block`.
fn rows_of_step<T: Copy>(
    array: &[T],
    (steps, stride): (usize, usize),
    t: usize,
    (col, width): (usize, usize),
    block: &mut [T],
) {
    for (r, dst) in block.chunks_exact_mut(width).enumerate() {
        let at = (r * steps + t) * stride + col;
        dst.copy_from_slice(&array[at..at + width]);
    }
}

fn block_to_step<T: Copy>(
    block: &[T],
    array: &mut [T],
    (steps, stride): (usize, usize),
    t: usize,
    (col, width): (usize, usize),
) {
    for (r, src) in block.chunks_exact(width).enumerate() {
        let at = (r * steps + t) * stride + col;
        array[at..at + width].copy_from_slice(src);
    }
}

fn step_mut<T>(v: &mut [T], t: usize, len: usize) -> &mut [T] {
    &mut v[t * len..(t + 1) * len]
}

fn step<T>(v: &[T], t: usize, len: usize) -> &[T] {
    &v[t * len..(t + 1) * len]
}

/// The forward chain: fills `out` (`[batch, steps, output_width]`) from `input`
/// (`[batch, steps, input_width]`) and the posterior noise `eps` (`[steps, batch, z]`).
#[inline(always)]
pub fn forward<T: Real>(
    dims: &Dims,
    weights: &[T],
    input: &[T],
    eps: &[T],
    out: &mut [T],
) -> Saved<T> {
    let (b, steps, h, g) = (dims.batch, dims.steps, dims.hidden, dims.gates());
    let (kin, kout, th) = (dims.input_width(), dims.output_width(), dims.threads);
    let layout = dims.output_layout();
    let w = Weights::parse(dims, weights, true);
    assert_eq!(input.len(), b * steps * kin, "scan input of the wrong length");
    assert_eq!(out.len(), b * steps * kout, "scan output of the wrong length");
    let zero = T::zero();
    let mut saved = Saved {
        hs: vec![zero; steps * b * h],
        enc: Vec::new(),
        sigma_raw: Vec::new(),
        z: Vec::new(),
        phi_z: Vec::new(),
        gates: vec![zero; steps * b * g],
        cell: vec![zero; steps * b * h],
    };
    if let Some(l) = &dims.latent {
        assert_eq!(eps.len(), steps * b * l.z, "posterior noise of the wrong length");
        saved.enc = l.encoder.iter().map(|&n| vec![zero; steps * b * n]).collect();
        saved.sigma_raw = vec![zero; steps * b * l.z];
        saved.z = vec![zero; steps * b * l.z];
        saved.phi_z = l.phi_z.iter().map(|&n| vec![zero; steps * b * n]).collect();
    }
    let mut hcur = vec![zero; b * h];
    let mut ccur = vec![zero; b * h];
    let mut gx = vec![zero; b * g];
    let mut gh = vec![zero; b * g];
    let mut mu = vec![zero; b * dims.latent.as_ref().map_or(0, |l| l.z)];
    let mut sig = mu.clone();
    let floor = c::<T>(SIGMA_FLOOR);
    for t in 0..steps {
        step_mut(&mut saved.hs, t, b * h).copy_from_slice(&hcur);
        block_to_step(&hcur, out, (steps, kout), t, layout.h);
        rows_of_step(input, (steps, kin), t, (0, g), &mut gx);
        if let Some(l) = &dims.latent {
            let (enc0_h, enc, mu_head, sigma_head, phi_z, ih_z) = w.latent(l);
            let z = l.z;
            let e0 = step_mut(&mut saved.enc[0], t, b * l.encoder[0]);
            rows_of_step(input, (steps, kin), t, (g, l.encoder[0]), e0);
            enc0_h.product(e0, true, &hcur, b, th);
            relu(e0);
            for (i, layer) in enc.iter().enumerate() {
                let (lower, upper) = saved.enc.split_at_mut(i + 1);
                let x = step(&lower[i], t, b * layer.shape.inp);
                let y = step_mut(&mut upper[0], t, b * layer.shape.out);
                layer.forward(y, x, b, th);
                relu(y);
            }
            let top = step(&saved.enc[l.encoder.len() - 1], t, b * mu_head.shape.inp);
            mu_head.forward(&mut mu, top, b, th);
            let sraw = step_mut(&mut saved.sigma_raw, t, b * z);
            sigma_head.forward(sraw, top, b, th);
            let zt = step_mut(&mut saved.z, t, b * z);
            let et = step(eps, t, b * z);
            for i in 0..b * z {
                sig[i] = sraw[i].fast_softplus() + floor;
                zt[i] = mu[i] + sig[i] * et[i];
            }
            block_to_step(&mu, out, (steps, kout), t, layout.mu);
            block_to_step(&sig, out, (steps, kout), t, layout.sigma);
            for (i, layer) in phi_z.iter().enumerate() {
                let (lower, upper) = saved.phi_z.split_at_mut(i);
                let x = if i == 0 {
                    step(&saved.z, t, b * z)
                } else {
                    step(&lower[i - 1], t, b * layer.shape.inp)
                };
                let y = step_mut(&mut upper[0], t, b * layer.shape.out);
                layer.forward(y, x, b, th);
                relu(y);
            }
            let pw = ih_z.shape.inp;
            let pz = step(&saved.phi_z[l.phi_z.len() - 1], t, b * pw);
            block_to_step(pz, out, (steps, kout), t, layout.phi_z);
            ih_z.product(&mut gx, true, pz, b, th);
        }
        w.recurrent().forward(&mut gh, &hcur, b, th);
        let gates = step_mut(&mut saved.gates, t, b * g);
        let cell = step_mut(&mut saved.cell, t, b * h);
        // One loop per cell kind (not a match per element), so that it vectorises.
        match dims.cell {
            Cell::Lstm => lstm_rows(h, &gx, &gh, gates, &mut hcur, &mut ccur, cell),
            Cell::Gru => gru_rows(h, &gx, &gh, gates, &mut hcur, cell),
        }
    }
    saved
}

/// The LSTM's update for every row of one step: gate activations (i, f, g, o) into
/// `gates`, the new cell state into `c` and `kept`, the new h into `h_rows`.
#[inline(always)]
fn lstm_rows<T: Real>(
    h: usize,
    gx: &[T],
    gh: &[T],
    gates: &mut [T],
    h_rows: &mut [T],
    c: &mut [T],
    kept: &mut [T],
) {
    let g = 4 * h;
    for (r, hr) in h_rows.chunks_exact_mut(h).enumerate() {
        let (gx, gh, a) = (&gx[r * g..][..g], &gh[r * g..][..g], &mut gates[r * g..][..g]);
        let (cr, kept) = (&mut c[r * h..][..h], &mut kept[r * h..][..h]);
        for j in 0..h {
            let i = (gx[j] + gh[j]).gate_sigmoid();
            let f = (gx[h + j] + gh[h + j]).gate_sigmoid();
            let gg = (gx[2 * h + j] + gh[2 * h + j]).gate_tanh();
            let o = (gx[3 * h + j] + gh[3 * h + j]).gate_sigmoid();
            cr[j] = f * cr[j] + i * gg;
            hr[j] = o * cr[j].gate_tanh();
            (a[j], a[h + j], a[2 * h + j], a[3 * h + j]) = (i, f, gg, o);
            kept[j] = cr[j];
        }
    }
}

/// The GRU's update for every row of one step: gate activations (r, u, n) into `gates`,
/// n's recurrent part into `kept`, the new h into `h_rows`.
#[inline(always)]
fn gru_rows<T: Real>(
    h: usize,
    gx: &[T],
    gh: &[T],
    gates: &mut [T],
    h_rows: &mut [T],
    kept: &mut [T],
) {
    let g = 3 * h;
    for (r, hr) in h_rows.chunks_exact_mut(h).enumerate() {
        let (gx, gh, a) = (&gx[r * g..][..g], &gh[r * g..][..g], &mut gates[r * g..][..g]);
        let kept = &mut kept[r * h..][..h];
        for j in 0..h {
            let rr = (gx[j] + gh[j]).gate_sigmoid();
            let u = (gx[h + j] + gh[h + j]).gate_sigmoid();
            let n = (gx[2 * h + j] + rr * gh[2 * h + j]).gate_tanh();
            hr[j] = n + u * (hr[j] - n);
            (a[j], a[h + j], a[2 * h + j]) = (rr, u, n);
            kept[j] = gh[2 * h + j];
        }
    }
}

/// The backward chain: from the gradient of the output (`[batch, steps, output_width]`),
/// the gradient of the input (same layout as the input) into `grad_in`, zeros on entry, and
/// that of the packed weights returned.
#[inline(always)]
pub fn backward<T: Real>(
    dims: &Dims,
    weights: &[T],
    eps: &[T],
    saved: &Saved<T>,
    grad_out: &[T],
    grad_in: &mut [T],
) -> Vec<T> {
    let (b, steps, h, g) = (dims.batch, dims.steps, dims.hidden, dims.gates());
    let (kin, kout, th) = (dims.input_width(), dims.output_width(), dims.threads);
    let layout = dims.output_layout();
    let w = Weights::parse(dims, weights, false);
    assert_eq!(grad_out.len(), b * steps * kout, "scan output gradient of the wrong length");
    let zero = T::zero();
    let gru = dims.cell == Cell::Gru;
    assert_eq!(grad_in.len(), b * steps * kin, "scan input gradient of the wrong length");
    // Per-step deltas at each linear layer's output, kept for the weight products.
    let mut d_gh = vec![zero; steps * b * g];
    let mut d_gx =
        if gru && dims.latent.is_some() { vec![zero; steps * b * g] } else { Vec::new() };
    let (mut d_enc, mut d_mu, mut d_sraw, mut d_phi) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if let Some(l) = &dims.latent {
        d_enc = l.encoder.iter().map(|&n| vec![zero; steps * b * n]).collect::<Vec<_>>();
        d_mu = vec![zero; steps * b * l.z];
        d_sraw = vec![zero; steps * b * l.z];
        d_phi = l.phi_z.iter().map(|&n| vec![zero; steps * b * n]).collect::<Vec<_>>();
    }
    let widest = dims
        .latent
        .as_ref()
        .map_or(0, |l| l.encoder.iter().chain(&l.phi_z).copied().max().unwrap_or(0).max(l.z));
    let (mut carry_h, mut carry_c, mut dh) =
        (vec![zero; b * h], vec![zero; b * h], vec![zero; b * h]);
    let mut d_gxt = vec![zero; b * g];
    let (mut above, mut below) = (vec![zero; b * widest], vec![zero; b * widest]);
    let no_cell = vec![zero; b * h];
    for t in (0..steps).rev() {
        let gates = step(&saved.gates, t, b * g);
        let cell = step(&saved.cell, t, b * h);
        let dgh = step_mut(&mut d_gh, t, b * g);
        let c_prev = if t > 0 { step(&saved.cell, t - 1, b * h) } else { &no_cell };
        match dims.cell {
            Cell::Lstm => {
                lstm_gate_gradients(h, gates, cell, c_prev, &carry_h, &mut carry_c, dgh);
                dh.fill(zero);
            }
            Cell::Gru => {
                let hprev = step(&saved.hs, t, b * h);
                gru_gate_gradients(h, gates, cell, hprev, &carry_h, dgh, &mut d_gxt, &mut dh);
            }
        }
        if !gru {
            d_gxt.copy_from_slice(dgh);
        } else if !d_gx.is_empty() {
            step_mut(&mut d_gx, t, b * g).copy_from_slice(&d_gxt);
        }
        dy_w(&mut dh, true, dgh, w.recurrent().w, (b, h, g), th);
        block_to_step(&d_gxt, grad_in, (steps, kin), t, (0, g));
        if let Some(l) = &dims.latent {
            let (enc0_h, enc, mu_head, sigma_head, phi_z, ih_z) = w.latent(l);
            let z = l.z;
            // Into phi_z's output: from the cell and from the decoder (the output gradient).
            let pw = ih_z.shape.inp;
            let dp = &mut above[..b * pw];
            rows_of_step(grad_out, (steps, kout), t, layout.phi_z, dp);
            dy_w(dp, true, &d_gxt, ih_z.w, (b, pw, g), th);
            for (i, layer) in phi_z.iter().enumerate().rev() {
                let s = layer.shape;
                let d_pre = step_mut(&mut d_phi[i], t, b * s.out);
                let y = step(&saved.phi_z[i], t, b * s.out);
                for k in 0..b * s.out {
                    d_pre[k] = if y[k] > zero { above[k] } else { zero };
                }
                dy_w(&mut below[..b * s.inp], false, d_pre, layer.w, (b, s.inp, s.out), th);
                std::mem::swap(&mut above, &mut below);
            }
            // `above` now holds dL/dz.
            let dm = step_mut(&mut d_mu, t, b * z);
            rows_of_step(grad_out, (steps, kout), t, layout.mu, dm);
            let ds = step_mut(&mut d_sraw, t, b * z);
            rows_of_step(grad_out, (steps, kout), t, layout.sigma, ds);
            let (et, sraw) = (step(eps, t, b * z), step(&saved.sigma_raw, t, b * z));
            for k in 0..b * z {
                dm[k] = dm[k] + above[k];
                ds[k] = (ds[k] + above[k] * et[k]) * sraw[k].gate_sigmoid();
            }
            let top = l.encoder.len() - 1;
            let de = &mut above[..b * l.encoder[top]];
            dy_w(de, false, dm, mu_head.w, (b, l.encoder[top], z), th);
            dy_w(de, true, ds, sigma_head.w, (b, l.encoder[top], z), th);
            for i in (0..l.encoder.len()).rev() {
                let n = l.encoder[i];
                let d_pre = step_mut(&mut d_enc[i], t, b * n);
                let y = step(&saved.enc[i], t, b * n);
                for k in 0..b * n {
                    d_pre[k] = if y[k] > zero { above[k] } else { zero };
                }
                if i > 0 {
                    let s = enc[i - 1].shape;
                    dy_w(
                        &mut below[..b * s.inp],
                        false,
                        d_pre,
                        enc[i - 1].w,
                        (b, s.inp, s.out),
                        th,
                    );
                    std::mem::swap(&mut above, &mut below);
                } else {
                    block_to_step(d_pre, grad_in, (steps, kin), t, (g, n));
                    dy_w(&mut dh, true, d_pre, enc0_h.w, (b, h, n), th);
                }
            }
        }
        rows_of_step(grad_out, (steps, kout), t, layout.h, &mut carry_h);
        add_assign(&mut carry_h, &dh);
    }
    weight_gradients(dims, &w, saved, &d_gh, &d_gx, &d_enc, &d_mu, &d_sraw, &d_phi)
}

/// The LSTM's gradients at the gate pre-activations (into `dg`) for every row of one
/// step, from dL/dh_t (`dh`) and dL/dc_t (`dc`, left holding dL/dc_{t-1}); `c_prev` is the
/// cell state before the step.
#[inline(always)]
fn lstm_gate_gradients<T: Real>(
    h: usize,
    gates: &[T],
    cell: &[T],
    c_prev: &[T],
    dh: &[T],
    dc: &mut [T],
    dg: &mut [T],
) {
    let one = T::one();
    for (r, dg) in dg.chunks_exact_mut(4 * h).enumerate() {
        let a = &gates[r * 4 * h..][..4 * h];
        let (cell, c_prev) = (&cell[r * h..][..h], &c_prev[r * h..][..h]);
        let (dh, dc) = (&dh[r * h..][..h], &mut dc[r * h..][..h]);
        for j in 0..h {
            let (i, f, gg, o) = (a[j], a[h + j], a[2 * h + j], a[3 * h + j]);
            let tc = cell[j].gate_tanh();
            let d = dc[j] + dh[j] * o * (one - tc * tc);
            dg[j] = d * gg * i * (one - i);
            dg[h + j] = d * c_prev[j] * f * (one - f);
            dg[2 * h + j] = d * i * (one - gg * gg);
            dg[3 * h + j] = dh[j] * tc * o * (one - o);
            dc[j] = d * f;
        }
    }
}

/// The GRU's gradients for every row of one step from dL/dh_t (`dh`): at the gate
/// pre-activations of W_ih x (`dx`) and of W_hh h (`dg`, n's scaled by r), and h_{t-1}'s
/// direct part (`direct`). `kept` is n's recurrent part, `hprev` h_{t-1}.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gru_gate_gradients<T: Real>(
    h: usize,
    gates: &[T],
    kept: &[T],
    hprev: &[T],
    dh: &[T],
    dg: &mut [T],
    dx: &mut [T],
    direct: &mut [T],
) {
    let one = T::one();
    for (r, dg) in dg.chunks_exact_mut(3 * h).enumerate() {
        let (a, dx) = (&gates[r * 3 * h..][..3 * h], &mut dx[r * 3 * h..][..3 * h]);
        let (kept, hprev) = (&kept[r * h..][..h], &hprev[r * h..][..h]);
        let (dh, direct) = (&dh[r * h..][..h], &mut direct[r * h..][..h]);
        for j in 0..h {
            let (rr, u, n) = (a[j], a[h + j], a[2 * h + j]);
            let dn = dh[j] * (one - u) * (one - n * n);
            let du = dh[j] * (hprev[j] - n) * u * (one - u);
            let dr = dn * kept[j] * rr * (one - rr);
            (dx[j], dx[h + j], dx[2 * h + j]) = (dr, du, dn);
            (dg[j], dg[h + j], dg[2 * h + j]) = (dr, du, dn * rr);
            direct[j] = dh[j] * u;
        }
    }
}

/// Every weight's gradient, one product over all steps and sequences per layer, packed
/// as the weights are.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weight_gradients<T: Real>(
    dims: &Dims,
    w: &Weights<'_, T>,
    saved: &Saved<T>,
    d_gh: &[T],
    d_gx: &[T],
    d_enc: &[Vec<T>],
    d_mu: &[T],
    d_sraw: &[T],
    d_phi: &[Vec<T>],
) -> Vec<T> {
    let rows = dims.batch * dims.steps;
    // (delta at the layer's output, the layer's input), in `Dims::linears` order.
    let mut pairs: Vec<(&[T], &[T])> = Vec::new();
    if let Some(l) = &dims.latent {
        pairs.push((&d_enc[0], &saved.hs));
        for (delta, below) in d_enc[1..].iter().zip(&saved.enc) {
            pairs.push((delta, below));
        }
        let top = &saved.enc[l.encoder.len() - 1];
        pairs.push((d_mu, top));
        pairs.push((d_sraw, top));
        let below = std::iter::once(&saved.z).chain(&saved.phi_z);
        for (delta, below) in d_phi.iter().zip(below) {
            pairs.push((delta, below));
        }
        let gx = if d_gx.is_empty() { d_gh } else { d_gx };
        pairs.push((gx, &saved.phi_z[l.phi_z.len() - 1]));
    }
    pairs.push((d_gh, &saved.hs));
    let mut out = Vec::with_capacity(dims.weight_len());
    for (layer, (dy, x)) in w.layers.iter().zip(pairs) {
        let s = layer.shape;
        let start = out.len();
        out.resize(start + s.out * s.inp, T::zero());
        dyt_x(&mut out[start..], false, dy, x, (rows, s.inp, s.out), dims.threads);
        if s.bias {
            let mut sum = vec![T::zero(); s.out];
            for row in dy.chunks_exact(s.out) {
                add_assign(&mut sum, row);
            }
            out.extend(sum);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::wide;
    use super::*;
    use vrnn_core::Rng;

    fn random(rng: &mut Rng, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| (rng.uniform() as f64 * 2.0 - 1.0) * scale).collect()
    }

    /// sum(out * probe): a scalar whose gradient with respect to the output is `probe`.
    fn objective(d: &Dims, w: &[f64], input: &[f64], eps: &[f64], probe: &[f64]) -> f64 {
        let mut out = vec![0.0; probe.len()];
        forward(d, w, input, eps, &mut out);
        out.iter().zip(probe).map(|(a, b)| a * b).sum()
    }

    /// The largest gap between the analytic gradient and central differences, relative to
    /// the gradient's largest element.
    fn worst_gap(d: &Dims) -> f64 {
        let mut rng = Rng::new(7);
        let n = d.batch * d.steps;
        let w = random(&mut rng, d.weight_len(), 0.6);
        let input = random(&mut rng, n * d.input_width(), 1.0);
        let eps = random(&mut rng, n * d.latent.as_ref().map_or(0, |l| l.z), 1.0);
        let probe = random(&mut rng, n * d.output_width(), 1.0);
        let mut out = vec![0.0; probe.len()];
        let saved = forward(d, &w, &input, &eps, &mut out);
        let mut gi = vec![0.0; input.len()];
        let gw = backward(d, &w, &eps, &saved, &probe, &mut gi);
        let step = 1e-6;
        let numeric = |v: &[f64], i: usize, f: &dyn Fn(&[f64]) -> f64| {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += step;
            down[i] -= step;
            (f(&up) - f(&down)) / (2.0 * step)
        };
        let scale = gi.iter().chain(&gw).fold(0.0f64, |m, v| m.max(v.abs()));
        let mut worst = 0.0f64;
        for (i, g) in gw.iter().enumerate() {
            let fd = numeric(&w, i, &|w| objective(d, w, &input, &eps, &probe));
            worst = worst.max((fd - g).abs() / scale);
        }
        for (i, g) in gi.iter().enumerate() {
            let fd = numeric(&input, i, &|x| objective(d, &w, x, &eps, &probe));
            worst = worst.max((fd - g).abs() / scale);
        }
        worst
    }

    /// Training runs the chain under `wide` (AVX2 where the CPU has it); called directly
    /// from here it is the baseline build. Training must not depend on which one a CPU
    /// gets: the same bits, every cell, with and without a latent.
    #[test]
    fn wide_chain_gives_the_baseline_bits() {
        let mut rng = Rng::new(11);
        let mut random32 = |n: usize, scale: f64| -> Vec<f32> {
            random(&mut rng, n, scale).into_iter().map(|v| v as f32).collect()
        };
        for cell in [Cell::Lstm, Cell::Gru] {
            for latent in
                [None, Some(LatentDims { encoder: vec![24, 16], z: 8, phi_z: vec![16, 24] })]
            {
                let d = Dims { batch: 3, steps: 5, hidden: 40, cell, latent, threads: 1 };
                let n = d.batch * d.steps;
                let w = random32(d.weight_len(), 0.3);
                let input = random32(n * d.input_width(), 1.0);
                let eps = random32(n * d.latent.as_ref().map_or(0, |l| l.z), 1.0);
                let grad = random32(n * d.output_width(), 1.0);
                let (mut out, mut out_base) = (vec![0.0; grad.len()], vec![0.0; grad.len()]);
                let saved = wide(
                    #[inline(always)]
                    || forward(&d, &w, &input, &eps, &mut out),
                );
                let saved_base = forward(&d, &w, &input, &eps, &mut out_base);
                let (mut gi, mut gi_base) = (vec![0.0; input.len()], vec![0.0; input.len()]);
                let gw = wide(
                    #[inline(always)]
                    || backward(&d, &w, &eps, &saved, &grad, &mut gi),
                );
                let gw_base = backward(&d, &w, &eps, &saved_base, &grad, &mut gi_base);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let what = format!("{cell:?} latent {}", d.latent.is_some());
                assert_eq!(bits(&out), bits(&out_base), "{what}: outputs");
                assert_eq!(bits(&gi), bits(&gi_base), "{what}: input gradients");
                assert_eq!(bits(&gw), bits(&gw_base), "{what}: weight gradients");
            }
        }
    }

    #[test]
    fn gradients_match_central_differences_in_f64() {
        for cell in [Cell::Lstm, Cell::Gru] {
            for latent in [None, Some(LatentDims { encoder: vec![5, 4], z: 3, phi_z: vec![4, 5] })]
            {
                let d = Dims { batch: 2, steps: 4, hidden: 3, cell, latent, threads: 1 };
                let gap = worst_gap(&d);
                assert!(
                    gap < 1e-7,
                    "{cell:?} latent {:?}: gradient off by {gap:e}",
                    d.latent.is_some()
                );
            }
        }
    }
}
