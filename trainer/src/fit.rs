//! `trainer fit`: turns recordings into a model file. Adam on the negative ELBO per frame,
//! periodic atomic checkpoints, exact resume, Ctrl-C saves, non-finite batches skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use vrnn_core::rng::derive_seed;
use vrnn_core::{Cell, Domain, ModelConfig, Rng};

use crate::checkpoint::{self, TrainingState};
use crate::dataset::Dataset;
use crate::early_stop::{Best, Verdict};
use crate::fused::Engine;
use crate::net::Net;
use crate::optim::{Adam, Update};
use crate::presets::{Preset, Variant};
use crate::{audio, device, plot, report};

/// Consecutive non-finite batches after which training stops.
pub const MAX_BAD_IN_A_ROW: u64 = 20;
/// Validation windows evaluated each time (0.5 s each).
const VAL_WINDOWS: usize = 64;

fn parse_cell(s: &str) -> Result<Cell, String> {
    match s {
        "lstm" => Ok(Cell::Lstm),
        "gru" => Ok(Cell::Gru),
        _ => Err(format!("'{s}' is not a cell: use lstm or gru")),
    }
}

/// Below this much audio in all, fit warns that the model will not generalise.
const MIN_RECOMMENDED_SECONDS: f64 = 60.0;

/// Budget when neither --steps nor --minutes is given.
pub const DEFAULT_MINUTES: f64 = 30.0;

/// `trainer fit`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct FitOptions {
    /// audio files (WAV, FLAC, MP3, OGG, AIFF, M4A) or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model file to write [default: <first input>.vrnn]. A checkpoint (.ckpt), the metrics
    /// (.metrics.jsonl) and the training curves (.png) go beside it.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    #[arg(long, value_enum, default_value = "vrnn-gauss")]
    pub variant: Variant,
    /// Mixture components of the GMM variants (the paper uses 20).
    #[arg(long, default_value_t = 20)]
    pub mixtures: usize,
    /// lstm (as the paper) or gru.
    #[arg(long, default_value = "lstm", value_parser = parse_cell)]
    pub cell: Cell,
    /// What a frame holds: hnm (harmonic-plus-noise vocoder parameters: voiced harmonics
    /// and formants by construction, MIDI pitch that keeps the formants; the built-in
    /// voice's), mdct (spectral coefficients of an orthogonal lapped transform: no clicks,
    /// noise shaped like the voice, likelihoods in waveform nats) or time (the paper's raw
    /// waveform samples).
    #[arg(long, default_value_t = Domain::Hnm)]
    pub domain: Domain,
    /// Stop after this many training steps (in all, counting resumed ones).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop after this many minutes of training (in all) [default: 30 without --steps].
    #[arg(long)]
    pub minutes: Option<f64>,
    /// auto, cpu, cuda[:N] or metal[:N].
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// What runs the recurrence: fused (one op with its own backward pass; CPU, and the
    /// default there) or reference (candle's graph, op by op: what fused is tested against,
    /// and what GPUs run).
    #[arg(long, value_enum, default_value_t = Engine::Fused)]
    pub engine: Engine,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from the checkpoint beside the output, optimizer state included.
    #[arg(long)]
    pub resume: bool,
    /// Start over even if the output model or its checkpoint exists (they are replaced).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Fraction of each recording held out for validation (at least 0.5 s).
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long = "batch-size", default_value_t = 16)]
    pub batch: usize,
    /// Frames per training sequence (80 frames of 200 samples = 1 s at 16 kHz). Longer
    /// than the recording's pauses, or the model learns that a pause never ends (at 0.5 s
    /// the voice fell silent for half the time: docs/sound.md).
    #[arg(long, default_value_t = 80)]
    pub seq_len: usize,
    /// Global gradient-norm clipping.
    #[arg(long, default_value_t = 10.0)]
    pub clip: f64,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    #[arg(long, default_value_t = 250)]
    pub val_every: u64,
    /// Stop once this many validations in a row (one every --val-every steps) have not
    /// improved on the best; 0 trains for the whole budget. The model file always holds
    /// the weights that validated best.
    #[arg(long, default_value_t = 8)]
    pub patience: u32,
    /// KL warm-up: the KL term's weight rises linearly from 0 to 1 over this many steps
    /// (0, the default and the paper's setting: off). Helps a latent that collapses early.
    #[arg(long, default_value_t = 0)]
    pub kl_warmup: u64,
    /// Free bits: a frame's KL below this many nats is not penalised (0, the default: off).
    /// Keeps the latent in use when the decoder alone could explain the audio.
    #[arg(long, default_value_t = 0.0)]
    pub free_bits: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Skip the sound-match report at the end (30 s rendered and measured against the
    /// training recordings; its summary is stored in the model).
    #[arg(long)]
    pub no_sound_report: bool,
}

impl FitOptions {
    /// `trainer fit <inputs>` with every other option at its command-line default, so that
    /// callers (compare, tests) never restate the defaults.
    pub fn with_defaults(inputs: Vec<PathBuf>) -> FitOptions {
        #[derive(clap::Parser)]
        struct Fit {
            #[command(flatten)]
            options: FitOptions,
        }
        let args = ["fit", "--"]
            .map(std::ffi::OsString::from)
            .into_iter()
            .chain(inputs.into_iter().map(Into::into));
        <Fit as clap::Parser>::try_parse_from(args).expect("fit's defaults parse").options
    }
}

/// KL per frame below which the latent carries almost nothing.
const COLLAPSE_KL: f64 = 0.1;
/// Logging windows (of 10 steps) in a row below it before fit warns.
const COLLAPSE_WINDOWS: u32 = 5;
const COLLAPSE_WARNING: &str = "warning: the KL per frame has stayed below 0.1 nats for 50 steps: \
    the decoder is ignoring the latent (posterior collapse). Consider --kl-warmup 2000 or --free-bits 1.";

/// Notices a KL that stays near zero; says so once per run.
#[derive(Default)]
struct CollapseWatch {
    low_windows: u32,
    warned: bool,
}

impl CollapseWatch {
    /// Feeds one window's mean KL per frame; true when it is time to warn.
    fn observe(&mut self, kl: f64) -> bool {
        self.low_windows = if kl < COLLAPSE_KL { self.low_windows + 1 } else { 0 };
        let warn = !self.warned && self.low_windows >= COLLAPSE_WINDOWS;
        self.warned |= warn;
        warn
    }
}

/// Files written beside the model.
pub struct Outputs {
    pub model: PathBuf,
    pub checkpoint: PathBuf,
    pub metrics: PathBuf,
    pub curves: PathBuf,
    /// Spectrograms of the sound-match report.
    pub sound: PathBuf,
}

impl Outputs {
    pub fn for_model(model: PathBuf) -> Outputs {
        let with = |ext: &str| model.with_extension(ext);
        Outputs {
            checkpoint: with("ckpt"),
            metrics: with("metrics.jsonl"),
            curves: with("png"),
            sound: with("sound.png"),
            model,
        }
    }
}

pub struct FitReport {
    pub outputs: Outputs,
    /// The sound-match report against the training audio (unless skipped or interrupted).
    pub sound: Option<report::SoundReport>,
    /// Steps run, and the step whose weights the model holds (the best validated).
    pub steps: u64,
    pub model_step: u64,
    /// The model's validation negative ELBO per frame, normalised space.
    pub val_nelbo: f64,
    /// The same in the raw waveform's scale (compares across normalisations and the
    /// waveform domains; for hnm models, in the raw scale of its parameters).
    pub val_nelbo_raw: f64,
    pub initial_val_nelbo: Option<f64>,
    pub skipped: u64,
    pub interrupted: bool,
}

fn default_output(inputs: &[PathBuf]) -> PathBuf {
    let first = &inputs[0];
    if first.is_dir() {
        first.join(format!(
            "{}.vrnn",
            first.file_name().map_or("model".into(), |n| n.to_string_lossy())
        ))
    } else {
        first.with_extension("vrnn")
    }
}

/// Mean per-frame loss terms of one applied update.
pub struct StepLoss {
    pub loss: f64,
    pub kl: f64,
    pub nll: f64,
}

/// How the KL term enters the training loss. The defaults give the paper's negative ELBO.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlShaping {
    /// Weight of the KL term (KL warm-up ramps it from 0 to 1).
    pub weight: f64,
    /// Free bits: a frame's KL below this many nats is not pushed down further.
    pub free_bits: f64,
}

impl KlShaping {
    pub const ELBO: KlShaping = KlShaping { weight: 1.0, free_bits: 0.0 };

    /// The shaping at `step` for a linear warm-up over `warmup` steps (0: none).
    pub fn at(step: u64, warmup: u64, free_bits: f64) -> KlShaping {
        let weight = if warmup == 0 { 1.0 } else { (step as f64 / warmup as f64).min(1.0) };
        KlShaping { weight, free_bits }
    }
}

/// One Adam update of batch `x` `[batch, steps, frame]`. The reported loss is always the
/// true negative ELBO per frame; `shaping` changes only what the gradient follows. None when
/// the loss or the gradient was not finite (nothing changed).
pub fn train_step(
    net: &Net,
    adam: &mut Adam,
    x: &Tensor,
    eps: &Tensor,
    clip: f64,
    shaping: KlShaping,
) -> Result<Option<StepLoss>> {
    let (losses, _) = net.forward(x, eps)?;
    let kl = losses.kl.mean_all()?;
    let nll = losses.nll.mean_all()?;
    let value = (&kl + &nll)?.to_scalar::<f32>()? as f64;
    if !value.is_finite() {
        return Ok(None);
    }
    let objective = if shaping == KlShaping::ELBO {
        (&kl + &nll)?
    } else {
        // max(KL, free_bits) = relu(KL - free_bits) + free_bits, per frame.
        let floored = (losses.kl - shaping.free_bits)?.relu()?.mean_all()?;
        ((floored * shaping.weight)? + &nll)?
    };
    Ok(match adam.step(net, &objective.backward()?, clip)? {
        Update::Applied { .. } => Some(StepLoss {
            loss: value,
            kl: kl.to_scalar::<f32>()? as f64,
            nll: nll.to_scalar::<f32>()? as f64,
        }),
        Update::Skipped => None,
    })
}

/// Negative ELBO per frame on fixed validation windows with fixed noise.
fn validate(net: &Net, val: &[f32], opts: &FitOptions, device: &Device) -> Result<f64> {
    let c = &net.config;
    let window = opts.seq_len * c.frame_dim();
    let n = val.len() / window;
    let mut rng = Rng::new(opts.seed ^ 0x0F1E_2D3C);
    let (mut total, mut frames) = (0.0, 0usize);
    for chunk in val.chunks(window * opts.batch) {
        let b = chunk.len() / window;
        let x = Tensor::from_slice(chunk, (b, opts.seq_len, c.frame_dim()), device)?;
        let eps = noise(&mut rng, opts.seq_len, b, c.z_size(), device)?;
        let (losses, _) = net.forward(&x, &eps)?;
        total += (losses.kl + losses.nll)?.sum_all()?.to_scalar::<f32>()? as f64;
        frames += b * opts.seq_len;
    }
    debug_assert_eq!(frames, n * opts.seq_len);
    Ok(total / frames.max(1) as f64)
}

pub fn noise(rng: &mut Rng, t: usize, b: usize, z: usize, device: &Device) -> Result<Tensor> {
    let mut v = vec![0.0f32; t * b * z];
    rng.fill_gaussian(&mut v);
    Ok(Tensor::from_vec(v, (t, b, z), device)?)
}

fn append_metrics(path: &Path, line: &serde_json::Value) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot write metrics", path.display()))?;
    writeln!(f, "{line}")?;
    Ok(())
}

fn plot_curves(metrics: &Path, curves: &Path) -> Result<()> {
    let text = std::fs::read_to_string(metrics)?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let step = v["step"].as_f64().unwrap_or(0.0);
        if let Some(l) = v["loss"].as_f64() {
            train.push((step, l));
        }
        if let Some(l) = v["val_nelbo"].as_f64() {
            val.push((step, l));
        }
    }
    plot::lines(
        curves,
        "VRNN training",
        "step",
        "negative ELBO per frame (nats)",
        &[("train", train), ("validation", val)],
        (900, 540),
    )
}

/// Writes the current weights as the model (atomically), with where they came from.
fn save_model(
    out: &Outputs,
    state: &TrainingState,
    net: &Net,
    data: &Dataset,
    val_nelbo: Option<f64>,
) -> Result<()> {
    let mut config = state.config.clone();
    config.provenance = vrnn_core::Provenance {
        data: data
            .files
            .iter()
            .map(|f| {
                f.file_name()
                    .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned())
            })
            .collect(),
        steps: state.step,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        trainer_version: env!("CARGO_PKG_VERSION").to_string(),
        validation_nelbo: val_nelbo,
        sound: None,
    };
    net.to_file(&config)?.save(&out.model)?;
    Ok(())
}

/// Refuses to start a run that would replace an earlier run's model or checkpoint, unless
/// told to (--force), or to continue it (--resume, which needs the checkpoint).
fn keep_finished_work(out: &Outputs, opts: &FitOptions) -> Result<()> {
    if opts.force {
        return Ok(());
    }
    let existing: Vec<String> = [&out.model, &out.checkpoint]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if existing.is_empty() || (opts.resume && out.checkpoint.exists()) {
        return Ok(());
    }
    let found = existing.join(" and ");
    if opts.resume {
        bail!(
            "{found} exists but there is no checkpoint {} to resume from: \
             use --force to start over (replacing it) or -o for another name",
            out.checkpoint.display()
        );
    }
    bail!(
        "{found} already exists (an earlier run): use --resume to continue it, --force to start \
         over (replacing it), or -o for another name"
    )
}

pub fn fit(opts: &FitOptions) -> Result<FitReport> {
    anyhow::ensure!((0.0..0.9).contains(&opts.val_split), "--val-split must be in [0, 0.9)");
    anyhow::ensure!(
        opts.batch > 0 && opts.seq_len > 0 && opts.checkpoint_every > 0 && opts.val_every > 0,
        "--batch-size, --seq-len, --checkpoint-every and --val-every must be positive"
    );
    let files = audio::collect_audio(&opts.inputs)?;
    let out = Outputs::for_model(opts.output.clone().unwrap_or_else(|| default_output(&files)));
    keep_finished_work(&out, opts)?;
    let device = device::pick(&opts.device)?;
    let mut config: ModelConfig = opts.preset.config();
    config.cell = opts.cell;
    opts.variant.apply(&mut config, opts.mixtures);
    config.domain = opts.domain;
    let data = Dataset::load(&files, &config, opts.seq_len, opts.val_split, opts.seed)?;
    config.normalisation = data.norm.clone();
    let val = data.val_windows(VAL_WINDOWS);

    let resuming = opts.resume && out.checkpoint.exists();
    let (mut state, mut net, mut adam) = if resuming {
        let (state, net, adam) = checkpoint::load(&out.checkpoint, &device, opts.lr)?;
        if state.seed != opts.seed {
            bail!(
                "{}: made with --seed {}, not {}",
                out.checkpoint.display(),
                state.seed,
                opts.seed
            );
        }
        (state, net, adam)
    } else {
        if opts.resume {
            eprintln!("no checkpoint at {}: starting afresh", out.checkpoint.display());
        }
        let _ = std::fs::remove_file(&out.metrics);
        let net = Net::init(&config, opts.seed, &device)?;
        let adam = Adam::new(&net, opts.lr)?;
        let state = TrainingState {
            config: config.clone(),
            step: 0,
            adam_t: 0,
            seed: opts.seed,
            skipped: 0,
            elapsed_s: 0.0,
            best: Best::default(),
        };
        (state, net, adam)
    };
    let config = state.config.clone();
    net.engine = opts.engine;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler in the same process (tests) is refused; the first still stops us.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }

    let total_steps = opts.steps.unwrap_or(u64::MAX);
    let minutes = match (opts.steps, opts.minutes) {
        (None, None) => Some(DEFAULT_MINUTES),
        (_, m) => m,
    };
    let deadline = minutes.map(|m| m * 60.0);
    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else if opts.steps.is_some() {
        ProgressBar::new(total_steps)
    } else {
        ProgressBar::new(deadline.unwrap_or(0.0) as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}, ETA {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if !opts.quiet {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        eprintln!(
            "training {} ({} domain, {} parameters) on {} ({}) from {} file(s), {:.1} s of audio ({}); model -> {}",
            config.variant_name(),
            config.domain,
            config.parameter_count(),
            device::describe(&device),
            match (opts.engine, opts.engine.on(&device)) {
                (Engine::Fused, Engine::Reference) => "reference engine: the fused one is CPU-only",
                (_, Engine::Fused) => "fused engine",
                (_, Engine::Reference) => "reference engine",
            },
            files.len(),
            data.seconds,
            names.join(", "),
            out.model.display()
        );
    }
    if data.seconds < MIN_RECOMMENDED_SECONDS {
        eprintln!(
            "warning: only {:.1} s of audio in all; a minute or more gives a model that sounds like more than these seconds",
            data.seconds
        );
    }

    let initial_val =
        if state.step == 0 { Some(validate(&net, &val, opts, &device)?) } else { None };
    if let Some(v) = initial_val {
        append_metrics(
            &out.metrics,
            &serde_json::json!({"step": 0, "val_nelbo": v, "elapsed_s": 0.0, "skipped": 0}),
        )?;
    }
    let mut last_val = initial_val;
    let started = Instant::now();
    let base_elapsed = state.elapsed_s;
    let mut bad_in_a_row = 0;
    let mut collapse = CollapseWatch::default();
    let mut interrupted = false;
    let mut stopped_early = false;
    let (mut window_loss, mut window_kl, mut window_nll, mut window_n) = (0.0, 0.0, 0.0, 0u32);
    let mut window_start = Instant::now();
    let frames_per_step = (opts.batch * opts.seq_len) as f64;
    let validation_due = |step: u64| step.is_multiple_of(opts.val_every) || step == total_steps;
    while state.step < total_steps {
        let run_s = started.elapsed().as_secs_f64();
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        if deadline.is_some_and(|d| base_elapsed + run_s >= d) {
            break;
        }
        let mut rng = Rng::new(derive_seed(opts.seed, state.step));
        let x = Tensor::from_vec(
            data.train_batch(opts.batch, &mut rng),
            (opts.batch, opts.seq_len, config.frame_dim()),
            &device,
        )?;
        let eps = noise(&mut rng, opts.seq_len, opts.batch, config.z_size(), &device)?;
        let shaping = KlShaping::at(state.step, opts.kl_warmup, opts.free_bits);
        let step = train_step(&net, &mut adam, &x, &eps, opts.clip, shaping)?;
        state.step += 1;
        if let Some(s) = step {
            bad_in_a_row = 0;
            window_loss += s.loss;
            window_kl += s.kl;
            window_nll += s.nll;
            window_n += 1;
        } else {
            state.skipped += 1;
            bad_in_a_row += 1;
            if bad_in_a_row >= MAX_BAD_IN_A_ROW {
                bar.abandon();
                bail!(
                    "training diverged: {bad_in_a_row} batches in a row had a non-finite loss or gradient at step {}. \
                     The last good checkpoint ({}) and model ({}) are kept; try a lower --lr or --clip.",
                    state.step, out.checkpoint.display(), out.model.display()
                );
            }
        }
        let validate_now = validation_due(state.step);
        let mut patience_ran_out = false;
        if validate_now {
            let v = validate(&net, &val, opts, &device)?;
            last_val = Some(v);
            match state.best.observe(state.step, v, opts.patience) {
                Verdict::Best => save_model(&out, &state, &net, &data, Some(v))?,
                Verdict::NotBetter { stop } => patience_ran_out = stop,
            }
        }
        if state.step % 10 == 0 || validate_now {
            if window_n > 0 && config.has_latent() && collapse.observe(window_kl / window_n as f64)
            {
                bar.suspend(|| eprintln!("{COLLAPSE_WARNING}"));
            }
            let fps =
                frames_per_step * window_n as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
            let n = window_n.max(1) as f64;
            let line = serde_json::json!({
                "step": state.step, "loss": (window_n > 0).then(|| window_loss / n),
                "kl": (window_n > 0).then(|| window_kl / n), "nll": (window_n > 0).then(|| window_nll / n),
                "val_nelbo": if validate_now { last_val } else { None },
                "frames_per_s": fps, "elapsed_s": base_elapsed + started.elapsed().as_secs_f64(), "skipped": state.skipped,
            });
            append_metrics(&out.metrics, &line)?;
            bar.set_message(format!(
                "loss {:.2} kl {:.2} rec {:.2} val {} {:.0} frames/s",
                window_loss / n,
                window_kl / n,
                window_nll / n,
                last_val.map_or("-".into(), |v| format!("{v:.2}")),
                fps
            ));
            (window_loss, window_kl, window_nll, window_n) = (0.0, 0.0, 0.0, 0);
            window_start = Instant::now();
        }
        if opts.steps.is_some() {
            bar.set_position(state.step)
        } else {
            bar.set_position(started.elapsed().as_secs())
        }
        if state.step % opts.checkpoint_every == 0 {
            state.adam_t = adam.t;
            state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
            checkpoint::save(&out.checkpoint, &state, &net, &adam)?;
            if state.best.val_nelbo.is_none() {
                // Nothing validated since step 0 yet: until then the model follows the
                // checkpoints.
                save_model(&out, &state, &net, &data, last_val)?;
            }
        }
        if patience_ran_out {
            stopped_early = true;
            break;
        }
    }
    bar.finish_and_clear();
    // The last step was validated in the loop unless time, Ctrl-C or patience ended it.
    let last_val_nelbo = match last_val {
        Some(v) if validation_due(state.step) => v,
        _ => {
            let v = validate(&net, &val, opts, &device)?;
            if state.best.observe(state.step, v, 0) == Verdict::Best {
                save_model(&out, &state, &net, &data, Some(v))?;
            }
            v
        }
    };
    if !out.model.exists() {
        // No model yet: no step ran, or resumed after the model file was deleted.
        save_model(&out, &state, &net, &data, Some(last_val_nelbo))?;
    }
    state.adam_t = adam.t;
    state.elapsed_s = base_elapsed + started.elapsed().as_secs_f64();
    checkpoint::save(&out.checkpoint, &state, &net, &adam)?;
    append_metrics(
        &out.metrics,
        &serde_json::json!({"step": state.step, "val_nelbo": last_val_nelbo, "elapsed_s": state.elapsed_s, "skipped": state.skipped}),
    )?;
    if stopped_early && !opts.quiet {
        eprintln!(
            "validation has not improved for {} validations since step {}: stopped at step {} (--patience)",
            opts.patience, state.best.step, state.step
        );
    }
    let (model_step, val_nelbo) =
        state.best.val_nelbo.map_or((state.step, last_val_nelbo), |v| (state.best.step, v));
    if let Err(e) = plot_curves(&out.metrics, &out.curves) {
        eprintln!("warning: could not draw {}: {e:#}", out.curves.display());
    }
    let sound = if opts.no_sound_report || interrupted {
        None
    } else {
        Some(report::after_training(&out.model, &files, &data.val_audio, &out.sound)?)
    };
    Ok(FitReport {
        sound,
        outputs: out,
        steps: state.step,
        model_step,
        val_nelbo,
        val_nelbo_raw: val_nelbo + config.normalisation.log_det(config.frame_dim()),
        initial_val_nelbo: initial_val,
        skipped: state.skipped,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_warning_comes_once_after_five_low_windows_in_a_row() {
        let mut w = CollapseWatch::default();
        let lows = [0.01, 0.02, 0.0, 0.05];
        assert!(lows.iter().all(|kl| !w.observe(*kl)), "four low windows are not enough");
        assert!(!w.observe(2.0), "a healthy window resets the count");
        let seen: Vec<bool> = [0.0; 12].iter().map(|kl| w.observe(*kl)).collect();
        assert_eq!(seen.iter().filter(|b| **b).count(), 1, "warned once");
        assert!(seen[4], "on the fifth low window");
    }

    #[test]
    fn kl_warmup_ramps_linearly_and_is_off_by_default() {
        assert_eq!(KlShaping::at(0, 0, 0.0), KlShaping::ELBO);
        assert_eq!(KlShaping::at(50, 200, 0.5).weight, 0.25);
        assert_eq!(KlShaping::at(500, 200, 0.5), KlShaping { weight: 1.0, free_bits: 0.5 });
    }
}
