//! `trainer`: fit, eval, sample and info for VRNN Synth models.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use vrnn_core::stream::DEFAULT_TEMPERATURE;
use vrnn_core::{Model, Precision};
use vrnn_trainer::fit::{fit, FitOptions};
use vrnn_trainer::fused::Engine;
use vrnn_trainer::report::{self, RenderSettings};
use vrnn_trainer::resynth::{self, resynthesise, FollowOptions, Pick, ResynthOptions};
use vrnn_trainer::sample::{render, write_wav, SampleOptions};
use vrnn_trainer::{audio, eval, info};

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate, render and inspect VRNN Synth models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A model file and how to hold its weights.
#[derive(Args)]
struct ModelArg {
    model: PathBuf,
    /// Weights in memory: f32, f16 / bf16 (half the bytes per step; products still sum in
    /// f32), or int8 (a quarter; one scale per row, products summed exactly in integers).
    #[arg(long, default_value_t = Precision::F32)]
    precision: Precision,
}

impl ModelArg {
    fn load(&self) -> Result<Arc<Model>> {
        Ok(Arc::new(Model::load_with(&self.model, self.precision)?))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on recordings: audio files (WAV, FLAC, MP3, OGG, AIFF, M4A) or folders.
    Fit(FitOptions),
    /// Negative ELBO of recordings under a model, per frame and per sequence.
    Eval {
        #[command(flatten)]
        model: ModelArg,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, default_value_t = 40)]
        seq_len: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Posterior samples per sequence for the importance-sampled log-likelihood
        /// (the paper's 40; 0 skips it).
        #[arg(long, default_value_t = 40)]
        is_samples: usize,
        /// Also the sound-match report: 30 s rendered at the default settings from each of
        /// --sound-renders seeds (from --seed on), measured against the recordings
        /// (spectrum, flatness, level, rhythm, voicing, clicks, long pauses), and their
        /// resynthesis; with a verdict.
        #[arg(long)]
        sound: bool,
        /// Spectrograms of the sound-match report, side by side (PNG).
        #[arg(long, requires = "sound")]
        sound_png: Option<PathBuf>,
        /// Temperature of the sound-match render.
        #[arg(long, default_value_t = DEFAULT_TEMPERATURE, requires = "sound")]
        temperature: f32,
        /// Output noise of the sound-match render [default: the model domain's].
        #[arg(long, requires = "sound")]
        noise: Option<f32>,
        /// Renders (consecutive seeds) in the sound-match report.
        #[arg(long, default_value_t = report::RENDERS, requires = "sound")]
        sound_renders: usize,
        #[arg(long)]
        json: bool,
    },
    /// The sound-match figures and verdict of a recording (a render, say) against
    /// reference recordings, as `eval --sound` reports them for a model.
    Match {
        input: PathBuf,
        /// Reference recordings (audio files (WAV, FLAC, MP3, OGG, AIFF, M4A) or folders of them).
        #[arg(long, required = true, num_args = 1..)]
        against: Vec<PathBuf>,
        /// Rate the figures are measured at.
        #[arg(long, default_value_t = 16_000)]
        rate: u32,
        #[arg(long)]
        json: bool,
    },
    /// The model's reconstruction of a recording through its encoder (what it has captured).
    Resynth {
        #[command(flatten)]
        model: ModelArg,
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// z_t: the posterior's mean or a sample.
        #[arg(long, value_enum, default_value = "mean")]
        z: Pick,
        /// Scale of the output's sampling noise: 0 plays the decoder's mean, 1 a sample
        /// [default: the model domain's, as `sample`].
        #[arg(long)]
        noise: Option<f32>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output rate [default: the model's; with --follow, 48000].
        #[arg(long)]
        sample_rate: Option<u32>,
        /// Live resynthesis as the plugin plays its input, following it by this much (0:
        /// improvise from the prior, 1: the encoder's posterior): sample for sample the
        /// plugin's output at the same settings, shifted by its latency.
        #[arg(long)]
        follow: Option<f32>,
        /// Temperature of a --follow render.
        #[arg(long, default_value_t = DEFAULT_TEMPERATURE, requires = "follow")]
        temperature: f32,
        /// Input gate of a --follow render: quieter input (RMS per frame, dBFS) is not
        /// followed.
        #[arg(long, default_value_t = vrnn_core::listen::DEFAULT_GATE_DB, requires = "follow")]
        gate_db: f32,
    },
    /// Render a model to a WAV file, exactly as the plugin plays it.
    Sample {
        #[command(flatten)]
        model: ModelArg,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Scale of the latent's sampling noise (0 to 2).
        #[arg(long, default_value_t = DEFAULT_TEMPERATURE)]
        temperature: f32,
        /// Scale of the output's sampling noise (0 to 1; 1 is the paper's sampling)
        /// [default: the model domain's: 0.3 for time (more is heard as hiss), 1 for mdct].
        #[arg(long)]
        noise: Option<f32>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 48_000)]
        sample_rate: u32,
    },
    /// The paper's latent analysis of a recording: delta_t of the posterior mean, KL per
    /// frame and the waveform, as a PNG (and JSON per frame).
    Analyze {
        #[command(flatten)]
        model: ModelArg,
        wav: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 1200)]
        width: u32,
        #[arg(long, default_value_t = 800)]
        height: u32,
        /// Print the per-frame numbers as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The paper's Table 1 on your data: train the five variants with one budget, score them
    /// on the held-out part, write results.md and curves.png.
    Compare(vrnn_trainer::compare::CompareOptions),
    /// Configuration, provenance and real-time cost of a model.
    Info {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        json: bool,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(opts) => {
            let r = fit(&opts)?;
            let o = &r.outputs;
            if r.interrupted {
                println!(
                    "stopped at step {}; continue with the same command and --resume",
                    r.steps
                );
            }
            let change =
                r.initial_val_nelbo.map_or(String::new(), |v| format!(" (from {v:.2} at step 0)"));
            let scale = if opts.domain.waveform_likelihood() {
                "the raw waveform's scale"
            } else {
                "the raw scale of the vocoder parameters, not a waveform likelihood"
            };
            let which = if r.model_step == r.steps {
                format!("{} steps", r.steps)
            } else {
                format!(
                    "the weights of step {} (the best validated) of {} steps",
                    r.model_step, r.steps
                )
            };
            println!("model: {}\nvalidation negative ELBO: {:.3} nats per frame{change} ({:.3} in {scale}), {which}, {} skipped batches", o.model.display(), r.val_nelbo, r.val_nelbo_raw, r.skipped);
            println!(
                "checkpoint: {}\nmetrics: {}\ncurves: {}",
                o.checkpoint.display(),
                o.metrics.display(),
                o.curves.display()
            );
            if let Some(s) = &r.sound {
                println!("{s}\nspectrograms: {}", o.sound.display());
            }
        }
        Command::Eval {
            model,
            inputs,
            seq_len,
            seed,
            is_samples,
            sound,
            sound_png,
            temperature,
            noise,
            sound_renders,
            json,
        } => {
            let model = model.load()?;
            let c = &model.config;
            let recordings = audio::load_all(&inputs, c.sample_rate, c.frame_seconds())?;
            let e = eval::evaluate_signals(model.clone(), &recordings, seq_len, seed, is_samples)?;
            let sound = if sound {
                let references = recordings;
                let defaults = RenderSettings::defaults_for(&model.config);
                let noise = noise.unwrap_or(defaults.noise);
                let renders = sound_renders;
                let settings = RenderSettings { seed, temperature, noise, renders, ..defaults };
                Some(report::report(
                    model,
                    &references,
                    &references,
                    settings,
                    sound_png.as_deref(),
                )?)
            } else {
                None
            };
            if json {
                let v = serde_json::json!({"evaluation": e, "sound": sound});
                let v = if sound.is_some() { v } else { serde_json::to_value(&e)? };
                println!("{}", serde_json::to_string_pretty(&v)?)
            } else {
                println!("{e}");
                if let Some(s) = sound {
                    println!("{s}");
                }
            }
        }
        Command::Match { input, against, rate, json } => {
            let references = audio::load_all(&against, rate, 0.0)?;
            let candidate = audio::load_mono(&input, rate, 0.0)?;
            let r = report::measure(
                std::slice::from_ref(&candidate),
                &references,
                rate,
                200,
                None,
                None,
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?)
            } else {
                println!("{r}")
            }
        }
        Command::Resynth {
            model,
            input,
            output,
            z,
            noise,
            seed,
            sample_rate,
            follow,
            temperature,
            gate_db,
        } => {
            let model = model.load()?;
            let rate = model.config.sample_rate;
            let noise = noise.unwrap_or(model.config.domain.default_noise());
            let (y, out_rate) = match follow {
                None => {
                    let signal = audio::load_mono(&input, rate, model.config.frame_seconds())?;
                    let y = resynthesise(model, &signal, ResynthOptions { z, noise, seed });
                    let out_rate = sample_rate.unwrap_or(rate);
                    (
                        if out_rate == rate { y } else { audio::resample(&y, rate, out_rate)? },
                        out_rate,
                    )
                }
                Some(follow) => {
                    anyhow::ensure!((0.0..=1.0).contains(&follow), "--follow must be in 0..=1");
                    let host = sample_rate.unwrap_or(48_000);
                    let signal = audio::load_mono(&input, host, 0.0)?;
                    let o = FollowOptions { follow, temperature, noise, seed, gate_db, rate: host };
                    (resynth::follow(model, &signal, o)?, host)
                }
            };
            write_wav(&output, &y, out_rate)?;
            println!(
                "wrote {} ({:.2} s at {out_rate} Hz)",
                output.display(),
                y.len() as f64 / out_rate as f64
            );
        }
        Command::Sample { model, output, seconds, temperature, noise, seed, sample_rate } => {
            anyhow::ensure!(seconds > 0.0 && seconds <= 3600.0, "--seconds must be in (0, 3600]");
            let model = model.load()?;
            let noise = noise.unwrap_or(model.config.domain.default_noise());
            let o = SampleOptions { seconds, temperature, noise, seed, sample_rate };
            let samples = render(model, &o)?;
            write_wav(&output, &samples, sample_rate)?;
            println!("wrote {} ({seconds} s at {sample_rate} Hz)", output.display());
        }
        Command::Analyze { model, wav, output, width, height, json } => {
            let model = model.load()?;
            let rate = model.config.sample_rate;
            let (a, wave) = vrnn_trainer::analyze::analyze(model, &wav)?;
            vrnn_trainer::analyze::figure(&a, &wave, rate, &output, (width, height))?;
            if json {
                println!("{}", serde_json::to_string(&a)?);
            } else {
                println!("wrote {} ({} frames)", output.display(), a.frames);
            }
        }
        Command::Compare(opts) => {
            let table = vrnn_trainer::compare::compare(&opts)?;
            println!("{table}\nwritten to {}", opts.output.join("results.md").display());
        }
        Command::Info { model, json } => {
            let i = info::measure(model.load()?, 500);
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?)
            } else {
                println!("{i}")
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Fit(opts) = &cli.command {
        if opts.engine == Engine::Fused {
            vrnn_trainer::threads::elementwise_on_calling_thread();
        }
    }
    vrnn_trainer::memory::keep_freed_memory();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
