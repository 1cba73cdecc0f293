//! One voice: the VRNN's recurrence, one frame per step, with state and scratch allocated
//! once. `step` samples from the prior (generation); `begin_follow_step` follows an input
//! frame through the encoder while generating (live resynthesis); `step_posterior` runs the
//! encoder on a given frame and feeds that frame back (evaluation, analysis, resynthesis).

use std::ops::Range;
use std::sync::Arc;

use crate::kernel::{all_finite, for_isa, row_group, softplus, Isa};
use crate::model::{GaussianNet, Model};
use crate::nn::{pad_vec, CellState, Mlp, MlpScratch};
use crate::rng::Rng;

/// Added to every softplus sigma, as in the paper's implementation.
pub const SIGMA_FLOOR: f32 = 1e-4;
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// The randomness one generation step consumes. Filled from the seeded RNG by `step`, or
/// given explicitly (to compare against another implementation).
#[derive(Clone, Debug)]
pub struct StepNoise {
    /// Standard normal, one per latent dimension.
    pub eps_z: Vec<f32>,
    /// Standard normal, one per output sample.
    pub eps_x: Vec<f32>,
    /// Uniform in (0, 1], picks the mixture component.
    pub u: f32,
}

/// What the encoder made of one frame.
#[derive(Clone, Copy, Debug)]
pub struct PosteriorStep<'a> {
    pub mu_z: &'a [f32],
    pub sigma_z: &'a [f32],
    /// KL(q(z_t | x_t, h) || p(z_t | h)) in nats (0 without a latent).
    pub kl: f64,
    /// -log p(x_t | z_t, h_{t-1}) in nats, in the model's normalised space.
    pub nll: f64,
    /// log p(z_t | h_{t-1}) - log q(z_t | x_t, h_{t-1}) at the z_t used: with `nll`, the
    /// frame's importance weight when z_t is a posterior sample (0 without a latent).
    pub log_prior_over_posterior: f64,
}

/// How `step_posterior` picks z_t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PosteriorZ<'a> {
    /// The posterior mean (deterministic: analysis, resynthesis).
    Mean,
    /// A sample from the posterior (an unbiased single-sample ELBO).
    Sample,
    /// mu_z + sigma_z * eps with the given standard-normal `eps`, one per latent dimension
    /// (to compare against another implementation).
    Noise(&'a [f32]),
}

struct Scratch {
    prior: Option<MlpScratch>,
    encoder: Option<MlpScratch>,
    decoder: MlpScratch,
    phi_x: MlpScratch,
    phi_z: Option<MlpScratch>,
    mu0: Vec<f32>,
    sigma0: Vec<f32>,
    prev_mu0: Vec<f32>,
    mu_z: Vec<f32>,
    sigma_z: Vec<f32>,
    z: Vec<f32>,
    enc_in: Vec<f32>,
    dec_in: Vec<f32>,
    logits: Vec<f32>,
    mu_x: Vec<f32>,
    sigma_x: Vec<f32>,
    x: Vec<f32>,
    /// The followed input frame, normalised.
    x_in: Vec<f32>,
    frame: Vec<f32>,
}

pub struct Generator {
    model: Arc<Model>,
    isa: Isa,
    /// The seed of the current voice (the random sequence's start).
    seed: u64,
    rng: Rng,
    state: CellState,
    s: Scratch,
    noise: StepNoise,
    latent_delta: f32,
    nonfinite_frames: u64,
    job: Job,
    /// The mixture component the current step picked.
    component: usize,
    /// The stages of a free step and of one that follows an input, worked out once.
    free_plan: Vec<Planned>,
    follow_plan: Vec<Planned>,
    /// Bytes of weights one generation step streams (the unit of `work`), and one that
    /// follows an input.
    step_cost: usize,
    follow_step_cost: usize,
}

impl Generator {
    pub fn new(model: Arc<Model>, seed: u64) -> Self {
        Self::with_isa(model, seed, Isa::detect())
    }

    /// A generator on a chosen instruction set (tests compare them).
    pub fn with_isa(model: Arc<Model>, seed: u64, isa: Isa) -> Self {
        let c = &model.config;
        let (z, f, h) = (c.z_size(), c.frame_dim(), c.hidden);
        let k = c.output.components();
        let s = Scratch {
            prior: model.prior.as_ref().map(|p| p.trunk.scratch()),
            encoder: model.encoder.as_ref().map(|e| e.trunk.scratch()),
            decoder: model.decoder.trunk.scratch(),
            phi_x: model.phi_x.scratch(),
            phi_z: model.phi_z.as_ref().map(|p| p.scratch()),
            mu0: vec![0.0; z],
            sigma0: vec![1.0; z],
            prev_mu0: vec![0.0; z],
            mu_z: vec![0.0; z],
            sigma_z: vec![1.0; z],
            z: pad_vec(z),
            enc_in: pad_vec(c.phi_x.width + h),
            dec_in: pad_vec(c.decoder_input()),
            logits: vec![0.0; k],
            mu_x: vec![0.0; f],
            sigma_x: vec![0.0; f],
            x: pad_vec(f),
            x_in: pad_vec(f),
            frame: vec![0.0; f],
        };
        let noise = StepNoise { eps_z: vec![0.0; z], eps_x: vec![0.0; f], u: 0.5 };
        let mut g = Generator {
            state: model.rnn.state(),
            model,
            isa,
            seed,
            rng: Rng::new(seed),
            s,
            noise,
            latent_delta: 0.0,
            nonfinite_frames: 0,
            job: Job::idle(),
            component: 0,
            free_plan: Vec::new(),
            follow_plan: Vec::new(),
            step_cost: 0,
            follow_step_cost: 0,
        };
        g.free_plan = g.plan(false);
        g.follow_plan = g.plan(g.model.encoder.is_some());
        let cost = |plan: &[Planned]| plan.iter().map(|p| p.rows * p.row_bytes).sum();
        (g.step_cost, g.follow_step_cost) = (cost(&g.free_plan), cost(&g.follow_plan));
        g
    }

    /// The stages of a step in order with the sizes of their matrices: a free step's, or
    /// with `following` one that also runs phi_x and the encoder on its input.
    fn plan(&self, following: bool) -> Vec<Planned> {
        let mut plan = Vec::new();
        let mut stage = self.next_stage(Stage::Start, following);
        while stage != Stage::Done {
            let (rows, row_bytes) = self.stage_size(stage);
            plan.push(Planned { stage, rows, row_bytes });
            stage = self.next_stage(stage, following);
        }
        plan
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Zeroes the recurrent state and restarts the random sequence from `seed`.
    pub fn reset(&mut self, seed: u64) {
        self.state.reset();
        self.seed = seed;
        self.rng = Rng::new(seed);
        self.s.prev_mu0.fill(0.0);
        self.latent_delta = 0.0;
        self.job = Job::idle();
    }

    /// Takes over another voice of the same configuration where it stands (recurrent state,
    /// random sequence, latent history; a step `other` is in the middle of is not taken
    /// over), as if this one had generated its frames: the voice
    /// goes on in another precision or instruction set without a restart.
    pub fn continue_from(&mut self, other: &Generator) {
        assert!(self.model.config == other.model.config, "continue_from needs the same model");
        self.state.h.copy_from_slice(&other.state.h);
        self.state.c.copy_from_slice(&other.state.c);
        self.seed = other.seed;
        self.rng = other.rng.clone();
        self.s.prev_mu0.copy_from_slice(&other.s.prev_mu0);
        self.latent_delta = other.latent_delta;
        self.job = Job::idle();
    }

    /// The recurrent state h_t (unpadded).
    pub fn hidden(&self) -> &[f32] {
        &self.state.h[..self.model.config.hidden]
    }

    /// The LSTM cell state (zeros for a GRU).
    pub fn cell(&self) -> &[f32] {
        &self.state.c[..self.model.config.hidden]
    }

    pub fn prior_mu(&self) -> &[f32] {
        &self.s.mu0
    }

    pub fn prior_sigma(&self) -> &[f32] {
        &self.s.sigma0
    }

    /// The last step's output mean and sigma, normalised space: the sampled component's
    /// after `step`, the one that best explains the frame after `step_posterior`.
    pub fn output_mu(&self) -> &[f32] {
        &self.s.mu_x
    }

    pub fn output_sigma(&self) -> &[f32] {
        &self.s.sigma_x
    }

    /// The last frame, unnormalised, in the model's domain (waveform samples for a
    /// time-domain model; `crate::domain` turns other domains into samples).
    pub fn frame(&self) -> &[f32] {
        &self.s.frame
    }

    /// The paper's delta_t: squared change of the prior mean over the last step.
    pub fn latent_delta(&self) -> f32 {
        self.latent_delta
    }

    /// Frames replaced by silence because a value was not finite.
    pub fn nonfinite_frames(&self) -> u64 {
        self.nonfinite_frames
    }

    /// Generates one frame from the prior and feeds it back. `temperature` scales the
    /// latent's sigma, `noise` the output's. Returns the frame in the waveform's scale.
    pub fn step(&mut self, temperature: f32, noise: f32) -> &[f32] {
        self.begin_step(temperature, noise);
        self.finish_step();
        &self.s.frame
    }

    /// As `step`, with the randomness given.
    pub fn step_with_noise(
        &mut self,
        noise_in: &StepNoise,
        temperature: f32,
        noise: f32,
    ) -> &[f32] {
        self.finish_step();
        self.noise.eps_z.copy_from_slice(&noise_in.eps_z);
        self.noise.eps_x.copy_from_slice(&noise_in.eps_x);
        self.noise.u = noise_in.u;
        self.job = Job::start(temperature, noise);
        self.finish_step();
        &self.s.frame
    }

    /// Starts a generation step that `work` then carries out in pieces (to spread its cost
    /// over several audio callbacks); the parameters and the randomness are fixed now.
    /// A step still running is finished first.
    pub fn begin_step(&mut self, temperature: f32, noise: f32) {
        self.finish_step();
        self.rng.fill_gaussian(&mut self.noise.eps_z);
        self.rng.fill_gaussian(&mut self.noise.eps_x);
        self.noise.u = self.rng.uniform();
        self.job = Job::start(temperature, noise);
    }

    /// Starts a step that follows `input` (a frame of the domain's values, unnormalised, as
    /// `step_posterior` takes) by `follow` (0 to 1): z_t is drawn from the Gaussian whose
    /// mean and log-sigma lie that far from the prior's towards the encoder's
    /// q(z_t | input, h), its sigma scaled by `temperature`, and the recurrence hears the
    /// same blend of the input and the generated frame. At 1 with temperature and noise 0
    /// this is the posterior reconstruction (`step_posterior` with the mean); at 0, or in a
    /// model without a latent, exactly `begin_step`'s step, with the same randomness; once
    /// the input stops (the caller goes back to `begin_step`) the recurrence goes on from
    /// what it has heard. The returned frame is always the generated one. `work` carries
    /// the step out in pieces, as a generation step.
    pub fn begin_follow_step(&mut self, input: &[f32], follow: f32, temperature: f32, noise: f32) {
        self.begin_step(temperature, noise);
        let m = &*self.model;
        if follow > 0.0 && m.encoder.is_some() {
            let raw = &input[..m.config.frame_dim()];
            let norm = m.frame_std.iter().zip(&m.frame_mean);
            for ((x, raw), (std, mean)) in self.s.x_in.iter_mut().zip(raw).zip(norm) {
                // A non-finite input frame is followed as silence at the model's mean.
                *x = if raw.is_finite() { (raw - mean) / std } else { 0.0 };
            }
            self.job.follow = follow.min(1.0);
        }
    }

    /// Bytes of weights a whole generation step streams: the unit of `work`'s budget.
    pub fn step_cost(&self) -> usize {
        self.step_cost
    }

    /// Bytes of weights a step that follows an input streams (phi_x and the encoder on top
    /// of `step_cost`; the same for a model without a latent).
    pub fn follow_step_cost(&self) -> usize {
        self.follow_step_cost
    }

    /// Bytes of weights the current (or last) step streams: the budget `work` spreads.
    pub fn running_step_cost(&self) -> usize {
        if self.job.follow > 0.0 {
            self.follow_step_cost
        } else {
            self.step_cost
        }
    }

    /// Whether a step has begun and not finished.
    pub fn stepping(&self) -> bool {
        self.job.index < self.running_plan().len()
    }

    /// The stages of the current (or last) step.
    fn running_plan(&self) -> &[Planned] {
        if self.job.follow > 0.0 {
            &self.follow_plan
        } else {
            &self.free_plan
        }
    }

    /// Carries the current step on until `target` bytes of its weights have been streamed
    /// (whole groups of rows, so slightly more) or it is done; returns whether it is done,
    /// and then `frame` holds its output. The result never depends on how the step was cut.
    pub fn work(&mut self, target: usize) -> bool {
        loop {
            let Some(&Planned { stage, rows, row_bytes }) = self.running_plan().get(self.job.index)
            else {
                return true;
            };
            if rows == 0 {
                self.run_glue(stage);
            } else {
                if self.job.spent >= target {
                    return false;
                }
                let wanted = (target - self.job.spent).div_ceil(row_bytes);
                let group = row_group(self.model.storage);
                let take = wanted.next_multiple_of(group).min(rows - self.job.row);
                self.run_rows(stage, self.job.row..self.job.row + take);
                self.job.row += take;
                self.job.spent += take * row_bytes;
                if self.job.row < rows {
                    continue;
                }
            }
            self.job.row = 0;
            self.job.index += 1;
        }
    }

    /// Runs the current step to its end.
    pub fn finish_step(&mut self) {
        self.work(usize::MAX);
    }

    /// The stage that follows `stage` in this model, in a step that follows an input or not.
    fn next_stage(&self, stage: Stage, following: bool) -> Stage {
        let m = &*self.model;
        let latent = m.phi_z.is_some();
        let z_from = if following { Stage::Mlp(Net::PhiXInput, 0) } else { Stage::SampleZ };
        match stage {
            Stage::Start if m.prior.is_some() => Stage::Mlp(Net::Prior, 0),
            Stage::Start if latent => z_from,
            Stage::Start => Stage::Embed,
            Stage::Mlp(net, i) if i + 1 < net_mlp(m, net).layers().len() => Stage::Mlp(net, i + 1),
            Stage::Mlp(Net::Prior, _) => Stage::PriorHead,
            Stage::PriorHead => z_from,
            Stage::Mlp(Net::PhiXInput, _) => Stage::EncoderInput,
            Stage::EncoderInput => Stage::Mlp(Net::Encoder, 0),
            Stage::Mlp(Net::Encoder, _) => Stage::EncoderHead,
            Stage::EncoderHead => Stage::SampleZ,
            Stage::SampleZ => Stage::Mlp(Net::PhiZ, 0),
            Stage::Mlp(Net::PhiZ, _) => Stage::Embed,
            Stage::Embed => Stage::Mlp(Net::Decoder, 0),
            Stage::Mlp(Net::Decoder, _) => Stage::Pick,
            Stage::Pick => Stage::OutputHead,
            Stage::OutputHead => Stage::SampleX,
            Stage::SampleX => Stage::Mlp(Net::PhiX, 0),
            Stage::Mlp(Net::PhiX, _) => Stage::Feed,
            Stage::Feed => Stage::InputGates,
            Stage::InputGates => Stage::HiddenGates,
            Stage::HiddenGates => Stage::Finish,
            Stage::Finish | Stage::Done => Stage::Done,
        }
    }

    /// Rows of weights a stage multiplies, and the bytes per row (0 rows: no matrix).
    fn stage_size(&self, stage: Stage) -> (usize, usize) {
        let m = &*self.model;
        match stage {
            Stage::Mlp(net, i) => {
                let layer = &net_mlp(m, net).layers()[i];
                (layer.out(), layer.row_bytes())
            }
            Stage::PriorHead => {
                m.prior.as_ref().map_or((0, 0), |p| (2 * p.mu.out(), p.mu.row_bytes()))
            }
            Stage::EncoderHead => {
                m.encoder.as_ref().map_or((0, 0), |e| (2 * e.mu.out(), e.mu.row_bytes()))
            }
            Stage::OutputHead => (2 * m.config.frame_dim(), m.decoder.mu.row_bytes()),
            Stage::InputGates => m.rnn.gate_rows()[0],
            Stage::HiddenGates => m.rnn.gate_rows()[1],
            _ => (0, 0),
        }
    }

    /// Multiplies rows `rows` of a stage's weights.
    fn run_rows(&mut self, stage: Stage, rows: Range<usize>) {
        let m = &*self.model;
        let isa = self.isa;
        let s = &mut self.s;
        match stage {
            Stage::Mlp(net, i) => {
                let (input, scratch) = match net {
                    Net::Prior => (&self.state.h[..], s.prior.as_mut()),
                    Net::PhiZ => (&s.z[..], s.phi_z.as_mut()),
                    Net::Decoder => (&s.dec_in[..], Some(&mut s.decoder)),
                    Net::PhiX if self.job.follow > 0.0 => (&s.x_in[..], Some(&mut s.phi_x)),
                    Net::PhiX => (&s.x[..], Some(&mut s.phi_x)),
                    Net::PhiXInput => (&s.x_in[..], Some(&mut s.phi_x)),
                    Net::Encoder => (&s.enc_in[..], s.encoder.as_mut()),
                };
                let scratch = scratch.expect("scratch exists for every network present");
                net_mlp(m, net).layer_rows(isa, i, rows, input, scratch);
            }
            Stage::PriorHead => {
                if let (Some(p), Some(ps)) = (&m.prior, &s.prior) {
                    head_rows(p, isa, 0, rows, ps.output(), &mut s.mu0, &mut s.sigma0);
                }
            }
            Stage::EncoderHead => {
                if let (Some(e), Some(es)) = (&m.encoder, &s.encoder) {
                    head_rows(e, isa, 0, rows, es.output(), &mut s.mu_z, &mut s.sigma_z);
                }
            }
            Stage::OutputHead => {
                let f = m.config.frame_dim();
                let (mu, sigma) = (&mut s.mu_x, &mut s.sigma_x);
                head_rows(&m.decoder, isa, self.component * f, rows, s.decoder.output(), mu, sigma);
            }
            Stage::InputGates => m.rnn.input_gate_rows(isa, rows, &mut self.state),
            Stage::HiddenGates => m.rnn.hidden_gate_rows(isa, rows, &mut self.state),
            _ => {}
        }
    }

    /// The element-wise work between the matrix stages.
    fn run_glue(&mut self, stage: Stage) {
        let m = &*self.model;
        let isa = self.isa;
        let (t, noise, f) = (self.job.temperature, self.job.noise, self.job.follow);
        let eps = &self.noise;
        let s = &mut self.s;
        match stage {
            Stage::SampleZ if f > 0.0 => {
                for i in 0..s.mu0.len() {
                    let mu = (1.0 - f) * s.mu0[i] + f * s.mu_z[i];
                    let sigma = ((1.0 - f) * s.sigma0[i].ln() + f * s.sigma_z[i].ln()).exp();
                    s.z[i] = mu + t * sigma * eps.eps_z[i];
                }
            }
            Stage::SampleZ => sample_gaussian(isa, &s.mu0, &s.sigma0, &eps.eps_z, t, &mut s.z),
            Stage::EncoderInput => {
                let (wx, h) = (m.config.phi_x.width, m.config.hidden);
                s.enc_in[..wx].copy_from_slice(&s.phi_x.output()[..wx]);
                s.enc_in[wx..wx + h].copy_from_slice(&self.state.h[..h]);
            }
            Stage::Embed => embed(m, &mut self.state, s),
            Stage::Pick => {
                self.component = match &m.logits {
                    Some(logits) => {
                        logits.forward(isa, s.decoder.output(), &mut s.logits);
                        pick_component(&mut s.logits, eps.u)
                    }
                    None => 0,
                }
            }
            Stage::SampleX => {
                sample_gaussian(isa, &s.mu_x, &s.sigma_x, &eps.eps_x, noise, &mut s.x);
                if f > 0.0 {
                    // What the recurrence hears: the input as far as the step follows it.
                    for (x_in, x) in s.x_in.iter_mut().zip(&s.x) {
                        *x_in = f * *x_in + (1.0 - f) * x;
                    }
                }
            }
            Stage::Feed => {
                feed_x(m, &mut self.state, s);
                m.rnn.load_hidden(&mut self.state);
            }
            Stage::Finish => {
                m.rnn.update(isa, &mut self.state);
                self.finish_frame();
            }
            Stage::Start
            | Stage::Mlp(..)
            | Stage::PriorHead
            | Stage::EncoderHead
            | Stage::OutputHead
            | Stage::InputGates
            | Stage::HiddenGates
            | Stage::Done => {}
        }
    }

    /// Runs the encoder on `frame` (the domain's values, unnormalised: waveform samples for a
    /// time-domain model), scores it, and advances the state with it. The frame must hold
    /// `frame_dim()` values.
    pub fn step_posterior(&mut self, frame: &[f32], z_mode: PosteriorZ<'_>) -> PosteriorStep<'_> {
        let m = &*self.model;
        let isa = self.isa;
        let c = &m.config;
        let s = &mut self.s;
        let raw = &frame[..c.frame_dim()];
        for (((x, raw), std), mean) in s.x.iter_mut().zip(raw).zip(&m.frame_std).zip(&m.frame_mean)
        {
            *x = (raw - mean) / std;
        }
        prior(m, isa, &self.state.h, s);
        let px = m.phi_x.forward(isa, &s.x, &mut s.phi_x);
        let wx = c.phi_x.width;
        let (mut kl, mut log_ratio) = (0.0, 0.0);
        if let (Some(enc), Some(enc_s)) = (&m.encoder, &mut s.encoder) {
            s.enc_in[..wx].copy_from_slice(&px[..wx]);
            s.enc_in[wx..wx + c.hidden].copy_from_slice(&self.state.h[..c.hidden]);
            gaussian_head(enc, isa, &s.enc_in, enc_s, &mut s.mu_z, &mut s.sigma_z);
            for i in 0..s.mu_z.len() {
                let eps = match z_mode {
                    PosteriorZ::Mean => 0.0,
                    PosteriorZ::Sample => self.rng.gaussian(),
                    PosteriorZ::Noise(eps) => eps[i],
                };
                s.z[i] = s.mu_z[i] + s.sigma_z[i] * eps;
            }
            let z = &s.z[..s.mu_z.len()];
            log_ratio = gaussian_nll(z, &s.mu_z, &s.sigma_z) - gaussian_nll(z, &s.mu0, &s.sigma0);
            kl = gaussian_kl(&s.mu_z, &s.sigma_z, &s.mu0, &s.sigma0);
        }
        embed_z(m, isa, &mut self.state, s);
        let nll = match &m.logits {
            Some(logits) => {
                decode(m, isa, s);
                logits.forward(isa, s.decoder.output(), &mut s.logits);
                let lse = log_sum_exp(&s.logits);
                let mut terms = [0.0f64; crate::config::MAX_COMPONENTS];
                let kk = s.logits.len();
                for (k, term) in terms.iter_mut().enumerate().take(kk) {
                    output_head(m, isa, k, s);
                    *term = (s.logits[k] as f64 - lse) - gaussian_nll(&s.x, &s.mu_x, &s.sigma_x);
                }
                // Leave the component that best explains the frame in mu_x / sigma_x
                // (what resynthesis plays).
                let best = (0..kk).max_by(|a, b| terms[*a].total_cmp(&terms[*b])).unwrap_or(0);
                output_head(m, isa, best, s);
                -log_sum_exp_f64(&terms[..kk])
            }
            None => {
                decode(m, isa, s);
                output_head(m, isa, 0, s);
                gaussian_nll(&s.x, &s.mu_x, &s.sigma_x)
            }
        };
        feed_x(m, &mut self.state, s);
        m.rnn.step_in_place(isa, &mut self.state);
        self.finish_frame();
        PosteriorStep {
            mu_z: &self.s.mu_z,
            sigma_z: &self.s.sigma_z,
            kl,
            nll,
            log_prior_over_posterior: log_ratio,
        }
    }

    /// Guards against non-finite values and writes the output frame once the state holds
    /// h_t.
    fn finish_frame(&mut self) {
        let m = &*self.model;
        let c = &m.config;
        let s = &mut self.s;
        let f = c.frame_dim();
        let finite = self.state.is_finite(self.isa) && all_finite(self.isa, &s.x[..f]);
        if finite {
            denormalise(self.isa, &s.x[..f], &m.frame_std, &m.frame_mean, &mut s.frame);
            self.latent_delta = s.mu0.iter().zip(&s.prev_mu0).map(|(a, b)| (a - b) * (a - b)).sum();
            s.prev_mu0.copy_from_slice(&s.mu0);
        } else {
            self.state.reset();
            s.frame.fill(0.0);
            s.x.fill(0.0);
            self.latent_delta = 0.0;
            self.nonfinite_frames += 1;
        }
    }
}

/// Where a generation step stands: the index of its stage in the plan, and the next row
/// within it.
#[derive(Clone, Copy, Debug)]
struct Job {
    index: usize,
    row: usize,
    /// Bytes of weights streamed so far in this step.
    spent: usize,
    temperature: f32,
    noise: f32,
    /// How far z_t moves from the prior towards the encoder's posterior of the input
    /// frame (0: a free generation step, which skips the encoder).
    follow: f32,
}

impl Job {
    fn start(temperature: f32, noise: f32) -> Job {
        Job { index: 0, row: 0, spent: 0, temperature, noise, follow: 0.0 }
    }

    fn idle() -> Job {
        Job { index: usize::MAX, ..Job::start(0.0, 0.0) }
    }
}

/// The MLP `net` of `m`.
fn net_mlp(m: &Model, net: Net) -> &Mlp {
    match net {
        // Stages of absent networks are never entered (see `Generator::after`).
        Net::Prior => &m.prior.as_ref().expect("prior stage without a prior").trunk,
        Net::PhiZ => m.phi_z.as_ref().expect("phi_z stage without a latent"),
        Net::Decoder => &m.decoder.trunk,
        Net::PhiX | Net::PhiXInput => &m.phi_x,
        Net::Encoder => &m.encoder.as_ref().expect("encoder stage without an encoder").trunk,
    }
}

/// The MLPs a generation step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    Prior,
    /// phi_x of the followed input frame (a following step only).
    PhiXInput,
    Encoder,
    PhiZ,
    Decoder,
    PhiX,
}

/// One stage of a step with the rows of its matrix and the bytes a row streams (no rows:
/// element-wise work only).
#[derive(Clone, Copy, Debug)]
struct Planned {
    stage: Stage,
    rows: usize,
    row_bytes: usize,
}

/// A generation step in order: matrix stages run in groups of rows, the others whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Start,
    /// Layer i of an MLP.
    Mlp(Net, usize),
    /// The prior's mu and sigma rows.
    PriorHead,
    /// phi_x(input) and h_{t-1} into the encoder's input (a following step only).
    EncoderInput,
    /// The encoder's mu and sigma rows.
    EncoderHead,
    SampleZ,
    /// phi_z(z) and h_{t-1} into the decoder's input.
    Embed,
    /// The mixture component (GMM output).
    Pick,
    /// The chosen component's mu and sigma rows.
    OutputHead,
    SampleX,
    /// phi_x(x) into the recurrence's input, and that input (with an LSTM's h_{t-1}) where
    /// the cell's input product reads it.
    Feed,
    /// The cell's product over its input (an LSTM's over [x; h_{t-1}]).
    InputGates,
    /// A GRU's product over h_{t-1} (no rows for an LSTM).
    HiddenGates,
    /// The cell's update, the non-finite guard and the output frame.
    Finish,
    Done,
}

/// The prior's mean and sigma from h_{t-1}: N(0, I) for VRNN-I.
fn prior(m: &Model, isa: Isa, h: &[f32], s: &mut Scratch) {
    if let (Some(p), Some(ps)) = (&m.prior, &mut s.prior) {
        gaussian_head(p, isa, h, ps, &mut s.mu0, &mut s.sigma0);
    }
}

/// phi_z(z_t) into the decoder's and the recurrence's inputs, and h_{t-1} into the decoder's.
fn embed_z(m: &Model, isa: Isa, state: &mut CellState, s: &mut Scratch) {
    if let (Some(phi_z), Some(pzs)) = (&m.phi_z, &mut s.phi_z) {
        phi_z.forward(isa, &s.z, pzs);
    }
    embed(m, state, s);
}

/// Copies phi_z's output (computed) and h_{t-1} into the decoder's input, and phi_z's into
/// the recurrence's.
fn embed(m: &Model, state: &mut CellState, s: &mut Scratch) {
    let c = &m.config;
    let (wx, wz) = (c.phi_x.width, c.phi_z_out());
    s.dec_in[wz..wz + c.hidden].copy_from_slice(&state.h[..c.hidden]);
    if let Some(pzs) = &s.phi_z {
        let pz = &pzs.output()[..wz];
        s.dec_in[..wz].copy_from_slice(pz);
        m.rnn.input_mut(state)[wx..wx + wz].copy_from_slice(pz);
    }
}

/// Copies phi_x's output (computed) into the recurrence's input.
fn feed_x(m: &Model, state: &mut CellState, s: &Scratch) {
    let wx = m.config.phi_x.width;
    m.rnn.input_mut(state)[..wx].copy_from_slice(&s.phi_x.output()[..wx]);
}

fn decode(m: &Model, isa: Isa, s: &mut Scratch) {
    m.decoder.trunk.forward(isa, &s.dec_in, &mut s.decoder);
}

/// Mean and sigma of output component k from the decoder trunk's last output.
fn output_head(m: &Model, isa: Isa, k: usize, s: &mut Scratch) {
    let f = m.config.frame_dim();
    head_rows(&m.decoder, isa, k * f, 0..2 * f, s.decoder.output(), &mut s.mu_x, &mut s.sigma_x);
}

/// Rows of a Gaussian head from its trunk's output `t`: with n = mu.len(), rows 0..n are mu's
/// and n..2n sigma's (softplus + floor), each read from row `offset` on of its matrix.
fn head_rows(
    net: &GaussianNet,
    isa: Isa,
    offset: usize,
    rows: Range<usize>,
    t: &[f32],
    mu: &mut [f32],
    sigma: &mut [f32],
) {
    let n = mu.len();
    let mu_rows = rows.start.min(n)..rows.end.min(n);
    if !mu_rows.is_empty() {
        let out = &mut mu[mu_rows.clone()];
        net.mu.forward_rows(isa, offset + mu_rows.start..offset + mu_rows.end, t, out);
    }
    let sigma_rows = rows.start.max(n) - n..rows.end.max(n) - n;
    if !sigma_rows.is_empty() {
        let out = &mut sigma[sigma_rows.clone()];
        net.sigma.forward_rows(isa, offset + sigma_rows.start..offset + sigma_rows.end, t, out);
        floored_softplus(isa, out);
    }
}

/// softplus(v) + SIGMA_FLOOR in place, compiled for `isa`: a Gaussian head's sigma.
fn floored_softplus(isa: Isa, v: &mut [f32]) {
    #[inline(always)]
    fn floored(v: &mut [f32]) {
        for x in v {
            *x = softplus(*x) + SIGMA_FLOOR;
        }
    }
    for_isa(
        isa,
        #[inline(always)]
        || floored(v),
    )
}

/// out = mu + scale * sigma * eps over mu's length, compiled for `isa`.
fn sample_gaussian(isa: Isa, mu: &[f32], sigma: &[f32], eps: &[f32], scale: f32, out: &mut [f32]) {
    #[inline(always)]
    fn sample(mu: &[f32], sigma: &[f32], eps: &[f32], scale: f32, out: &mut [f32]) {
        let n = mu.len();
        let (sigma, eps, out) = (&sigma[..n], &eps[..n], &mut out[..n]);
        for i in 0..n {
            out[i] = mu[i] + scale * sigma[i] * eps[i];
        }
    }
    for_isa(
        isa,
        #[inline(always)]
        || sample(mu, sigma, eps, scale, out),
    )
}

/// out = x * std + mean, compiled for `isa`: a frame back in the waveform's scale.
fn denormalise(isa: Isa, x: &[f32], std: &[f32], mean: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn scale(x: &[f32], std: &[f32], mean: &[f32], out: &mut [f32]) {
        let n = x.len();
        let (std, mean, out) = (&std[..n], &mean[..n], &mut out[..n]);
        for i in 0..n {
            out[i] = x[i] * std[i] + mean[i];
        }
    }
    for_isa(
        isa,
        #[inline(always)]
        || scale(x, std, mean, out),
    )
}

fn gaussian_head(
    net: &GaussianNet,
    isa: Isa,
    x: &[f32],
    scratch: &mut MlpScratch,
    mu: &mut [f32],
    sigma: &mut [f32],
) {
    let t = net.trunk.forward(isa, x, scratch);
    head_rows(net, isa, 0, 0..2 * mu.len(), t, mu, sigma);
}

/// Turns logits into a categorical draw with uniform `u` in (0, 1] (overwrites them).
pub fn pick_component(logits: &mut [f32], u: f32) -> usize {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        total += *l;
    }
    let target = u * total;
    let mut acc = 0.0;
    for (k, p) in logits.iter().enumerate() {
        acc += p;
        if target <= acc {
            return k;
        }
    }
    logits.len() - 1
}

/// KL(N(mu_q, sq^2) || N(mu_p, sp^2)), summed over dimensions.
pub fn gaussian_kl(mu_q: &[f32], sq: &[f32], mu_p: &[f32], sp: &[f32]) -> f64 {
    let mut kl = 0.0f64;
    for i in 0..mu_q.len() {
        let (mq, vq, mp, vp) = (mu_q[i] as f64, sq[i] as f64, mu_p[i] as f64, sp[i] as f64);
        kl += (vp / vq).ln() + (vq * vq + (mq - mp) * (mq - mp)) / (2.0 * vp * vp) - 0.5;
    }
    kl
}

/// -log N(x; mu, diag sigma^2), summed over the frame.
pub fn gaussian_nll(x: &[f32], mu: &[f32], sigma: &[f32]) -> f64 {
    let mut nll = 0.0f64;
    for i in 0..mu.len() {
        let (d, sg) = (x[i] as f64 - mu[i] as f64, sigma[i] as f64);
        nll += HALF_LN_2PI + sg.ln() + d * d / (2.0 * sg * sg);
    }
    nll
}

fn log_sum_exp(v: &[f32]) -> f64 {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    max + v.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln()
}

pub fn log_sum_exp_f64(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + v.iter().map(|&x| (x - max).exp()).sum::<f64>().ln()
}
