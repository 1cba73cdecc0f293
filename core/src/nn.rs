//! Layers with weights packed for the kernel: Dense, ReLU MLP, LSTM and GRU cells.

use crate::config::Cell;
use crate::kernel::{
    activate, all_finite, for_isa, padded, sigmoid, tanh, Activation, Isa, PackedMatrix, Precision,
};

/// A zero-padded vector the kernels can read past its length.
pub fn pad_vec(n: usize) -> Vec<f32> {
    vec![0.0; padded(n).max(crate::kernel::LANES)]
}

#[derive(Debug)]
pub struct Dense {
    w: PackedMatrix,
    b: Vec<f32>,
}

impl Dense {
    /// `w` is `[out, in]` row-major, `b` is `[out]`.
    pub fn new(out: usize, input: usize, w: &[f32], b: &[f32]) -> Self {
        assert_eq!(b.len(), out);
        Dense { w: PackedMatrix::new(out, input, w), b: b.to_vec() }
    }

    /// The same layer with its weights in `precision` (as it is if already so, which is
    /// what a model held in its own format asks for: no second copy at load).
    pub fn with_precision(self, precision: Precision) -> Self {
        if self.w.precision() == precision {
            return self;
        }
        Dense { w: self.w.repacked(precision), b: self.b }
    }

    pub fn out(&self) -> usize {
        self.w.rows()
    }

    pub fn input(&self) -> usize {
        self.w.cols()
    }

    pub fn bytes(&self) -> usize {
        self.w.bytes() + self.b.len() * 4
    }

    /// Bytes of weights one output row streams.
    pub fn row_bytes(&self) -> usize {
        self.w.row_bytes()
    }

    pub fn forward(&self, isa: Isa, x: &[f32], y: &mut [f32]) {
        self.w.matvec(isa, x, &self.b, y)
    }

    /// Only the rows in `rows` (one mixture component's block, say).
    pub fn forward_rows(&self, isa: Isa, rows: std::ops::Range<usize>, x: &[f32], y: &mut [f32]) {
        self.w.matvec_rows(isa, rows, x, &self.b, y)
    }
}

/// A stack of Dense layers, each followed by ReLU.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Dense>,
}

/// Per-layer output buffers for an Mlp, allocated once.
#[derive(Clone, Debug)]
pub struct MlpScratch {
    bufs: Vec<Vec<f32>>,
}

impl MlpScratch {
    /// The last layer's padded output from the latest `forward`.
    pub fn output(&self) -> &[f32] {
        self.bufs.last().map_or(&[], Vec::as_slice)
    }
}

impl Mlp {
    pub fn new(layers: Vec<Dense>) -> Self {
        Mlp { layers }
    }

    pub fn scratch(&self) -> MlpScratch {
        MlpScratch { bufs: self.layers.iter().map(|l| pad_vec(l.out())).collect() }
    }

    pub fn out(&self) -> usize {
        self.layers.last().map_or(0, Dense::out)
    }

    pub fn bytes(&self) -> usize {
        self.layers.iter().map(Dense::bytes).sum()
    }

    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    /// Returns the padded output of the last layer.
    pub fn forward<'s>(&self, isa: Isa, x: &[f32], s: &'s mut MlpScratch) -> &'s [f32] {
        for (i, layer) in self.layers.iter().enumerate() {
            self.layer_rows(isa, i, 0..layer.out(), x, s);
        }
        &s.bufs[self.layers.len() - 1]
    }

    /// Output rows `rows` of layer `i` (after ReLU), reading `x` (layer 0) or the previous
    /// layer's output in `s`.
    pub fn layer_rows(
        &self,
        isa: Isa,
        i: usize,
        rows: std::ops::Range<usize>,
        x: &[f32],
        s: &mut MlpScratch,
    ) {
        let (done, rest) = s.bufs.split_at_mut(i);
        let input = if i == 0 { x } else { &done[i - 1] };
        let out = &mut rest[0][rows.clone()];
        self.layers[i].forward_rows(isa, rows, input, out);
        activate(isa, Activation::Relu, out);
    }
}

/// An LSTM (gates i, f, g, o) or GRU (gates r, z, n) cell with all gates fused into one
/// matrix per input, as PyTorch and candle lay them out. An LSTM's gates only ever see the
/// sum of both products, so its two matrices are joined side by side into one over
/// [x; h_{t-1}]: one pass over its weights instead of two (2-3 % faster at 256-512 units).
/// A GRU's candidate gate scales the hidden product by r, so a GRU keeps both.
#[derive(Debug)]
pub struct Recurrent {
    cell: Cell,
    input: usize,
    hidden: usize,
    /// [W_ih | W_hh] over [x; h] for an LSTM (its bias b_ih + b_hh), W_ih over x for a GRU.
    w_in: Dense,
    /// A GRU's W_hh over h (none for an LSTM).
    w_hh: Option<Dense>,
}

/// The recurrent state and the cell's scratch. `h` and `c` are padded.
#[derive(Clone, Debug)]
pub struct CellState {
    pub h: Vec<f32>,
    pub c: Vec<f32>,
    /// What `w_in` multiplies: x, and an LSTM's h_{t-1} after it.
    xh: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

impl CellState {
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
    }

    pub fn is_finite(&self, isa: Isa) -> bool {
        all_finite(isa, &self.h) && all_finite(isa, &self.c)
    }
}

impl Recurrent {
    pub fn new(
        cell: Cell,
        input: usize,
        hidden: usize,
        w_ih: &[f32],
        w_hh: &[f32],
        b_ih: &[f32],
        b_hh: &[f32],
    ) -> Self {
        let g = cell.gates() * hidden;
        assert!(b_ih.len() == g && b_hh.len() == g);
        let (w_in, w_hh) = match cell {
            Cell::Lstm => {
                let w = PackedMatrix::hstack(g, &[(w_ih, input), (w_hh, hidden)]);
                let b = b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect();
                (Dense { w, b }, None)
            }
            Cell::Gru => {
                (Dense::new(g, input, w_ih, b_ih), Some(Dense::new(g, hidden, w_hh, b_hh)))
            }
        };
        Recurrent { cell, input, hidden, w_in, w_hh }
    }

    /// The same cell with its weights in `precision` (as it is if already so, as for
    /// `Dense::with_precision`).
    pub fn with_precision(self, precision: Precision) -> Self {
        Recurrent {
            w_in: self.w_in.with_precision(precision),
            w_hh: self.w_hh.map(|w| w.with_precision(precision)),
            ..self
        }
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn input(&self) -> usize {
        self.input
    }

    pub fn bytes(&self) -> usize {
        self.w_in.bytes() + self.w_hh.as_ref().map_or(0, Dense::bytes)
    }

    pub fn state(&self) -> CellState {
        let g = self.cell.gates() * self.hidden;
        let gru = self.w_hh.is_some();
        CellState {
            h: pad_vec(self.hidden),
            c: pad_vec(self.hidden),
            xh: pad_vec(self.w_in.input()),
            gx: vec![0.0; g],
            gh: vec![0.0; if gru { g } else { 0 }],
        }
    }

    /// One step: `x` is the padded input; updates `s.h` (and `s.c` for an LSTM).
    pub fn step(&self, isa: Isa, x: &[f32], s: &mut CellState) {
        self.input_mut(s).copy_from_slice(&x[..self.input]);
        self.step_in_place(isa, s);
    }

    /// One step on the input already written through `input_mut`.
    pub fn step_in_place(&self, isa: Isa, s: &mut CellState) {
        let [(rows, _), (hidden_rows, _)] = self.gate_rows();
        self.load_hidden(s);
        self.input_gate_rows(isa, 0..rows, s);
        self.hidden_gate_rows(isa, 0..hidden_rows, s);
        self.update(isa, s);
    }

    /// Where x_t goes: the input product reads it from here, so a caller writes its parts
    /// straight in rather than into a buffer of its own.
    pub fn input_mut<'s>(&self, s: &'s mut CellState) -> &'s mut [f32] {
        &mut s.xh[..self.input]
    }

    /// Puts an LSTM's h_{t-1} after x_t, where its joined product reads it (a GRU reads
    /// h from the state).
    pub fn load_hidden(&self, s: &mut CellState) {
        if self.w_hh.is_none() {
            let (i, n) = (self.input, self.hidden);
            s.xh[i..i + n].copy_from_slice(&s.h[..n]);
        }
    }

    /// Rows of the input product (after `load_hidden`): gate pre-activations W_ih x + b_ih,
    /// an LSTM's with W_hh h + b_hh in them.
    pub fn input_gate_rows(&self, isa: Isa, rows: std::ops::Range<usize>, s: &mut CellState) {
        self.w_in.forward_rows(isa, rows.clone(), &s.xh, &mut s.gx[rows]);
    }

    /// Rows of a GRU's hidden product, W_hh h + b_hh (an LSTM has none).
    pub fn hidden_gate_rows(&self, isa: Isa, rows: std::ops::Range<usize>, s: &mut CellState) {
        if let Some(w_hh) = &self.w_hh {
            w_hh.forward_rows(isa, rows.clone(), &s.h, &mut s.gh[rows]);
        }
    }

    /// (rows, bytes a row streams) of the input product and of the hidden one ((0, 0) for
    /// an LSTM).
    pub fn gate_rows(&self) -> [(usize, usize); 2] {
        let size = |w: &Dense| (w.out(), w.row_bytes());
        [size(&self.w_in), self.w_hh.as_ref().map_or((0, 0), size)]
    }

    /// The element-wise update once all gate pre-activations are in, compiled for `isa`.
    pub fn update(&self, isa: Isa, s: &mut CellState) {
        let n = self.hidden;
        let (h, c) = (&mut s.h[..n], &mut s.c[..n]);
        match self.cell {
            Cell::Lstm => {
                let gates = &mut s.gx[..4 * n];
                activate(isa, Activation::Sigmoid, &mut gates[..2 * n]);
                activate(isa, Activation::Tanh, &mut gates[2 * n..3 * n]);
                activate(isa, Activation::Sigmoid, &mut gates[3 * n..]);
                for_isa(
                    isa,
                    #[inline(always)]
                    || lstm_state(gates, c, h),
                )
            }
            Cell::Gru => {
                let (gx, gh) = (&mut s.gx[..], &s.gh[..]);
                for_isa(
                    isa,
                    #[inline(always)]
                    || gru_update(gx, gh, h),
                )
            }
        }
    }
}

/// c = f c + i g and h = o tanh(c) from the activated gates (i, f, g, o).
#[inline(always)]
fn lstm_state(gates: &[f32], c: &mut [f32], h: &mut [f32]) {
    let n = h.len();
    let gate = |k: usize| &gates[k * n..(k + 1) * n];
    let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
    let c = &mut c[..n];
    for k in 0..n {
        c[k] = f[k] * c[k] + i[k] * g[k];
        h[k] = tanh(c[k]) * o[k];
    }
}

/// x = f(x + y) element by element: a gate's activation over the sum of its input and
/// hidden pre-activations. (One loop per activation: a single loop over all of a cell's
/// gates was interleaved by the compiler and spilled its registers, which made it slower.)
#[inline(always)]
fn activate_sum(f: impl Fn(f32) -> f32, x: &mut [f32], y: &[f32]) {
    let y = &y[..x.len()];
    for k in 0..x.len() {
        x[k] = f(x[k] + y[k]);
    }
}

/// h = (1 - z) n + z h with n = tanh(W_in x + b_in + r (W_hn h + b_hn)), the gates (r, z)
/// from the sums of their input and hidden pre-activations (left activated in `gx`).
#[inline(always)]
fn gru_update(gx: &mut [f32], gh: &[f32], h: &mut [f32]) {
    let n = h.len();
    let (rz, xn) = gx[..3 * n].split_at_mut(2 * n);
    activate_sum(sigmoid, rz, &gh[..2 * n]);
    let (r, z) = rz.split_at(n);
    let hn = &gh[2 * n..3 * n];
    for k in 0..n {
        let candidate = tanh(xn[k] + r[k] * hn[k]);
        h[k] = (1.0 - z[k]) * candidate + z[k] * h[k];
    }
}
