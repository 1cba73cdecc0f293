//! `trainer`: fit, eval, sample and info for VRNN Synth models.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use vrnn_core::stream::{DEFAULT_NOISE, DEFAULT_TEMPERATURE};
use vrnn_core::{Cell, Model};
use vrnn_trainer::fit::{fit, FitOptions};
use vrnn_trainer::presets::Preset;
use vrnn_trainer::sample::{render, write_wav, SampleOptions};
use vrnn_trainer::{eval, info};

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

#[derive(Clone, Copy, ValueEnum)]
enum CellArg {
    Lstm,
    Gru,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on recordings (WAV files or folders of them).
    Fit {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Model file to write [default: <first input>.vrnn]. A checkpoint (.ckpt), the
        /// metrics (.metrics.jsonl) and the training curves (.png) go beside it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "small")]
        preset: Preset,
        #[arg(long, value_enum, default_value = "lstm")]
        cell: CellArg,
        /// Stop after this many training steps (in all, counting resumed ones).
        #[arg(long)]
        steps: Option<u64>,
        /// Stop after this many minutes of training (in all) [default: 30 without --steps].
        #[arg(long)]
        minutes: Option<f64>,
        /// auto, cpu, cuda[:N] or metal[:N].
        #[arg(long, default_value = "auto")]
        device: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Continue from the checkpoint beside the output, optimizer state included.
        #[arg(long)]
        resume: bool,
        /// Fraction of each recording held out for validation (at least 0.5 s).
        #[arg(long, default_value_t = 0.1)]
        val_split: f64,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Frames per training sequence (40 frames of 200 samples = 0.5 s at 16 kHz).
        #[arg(long, default_value_t = 40)]
        seq_len: usize,
        /// Global gradient-norm clipping.
        #[arg(long, default_value_t = 10.0)]
        clip: f64,
        #[arg(long, default_value_t = 500)]
        checkpoint_every: u64,
        #[arg(long, default_value_t = 250)]
        val_every: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Negative ELBO of recordings under a model, per frame and per sequence.
    Eval {
        model: PathBuf,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[arg(long, default_value_t = 40)]
        seq_len: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Render a model to a WAV file, exactly as the plugin plays it.
    Sample {
        model: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Scale of the latent's sampling noise (0 to 2).
        #[arg(long, default_value_t = DEFAULT_TEMPERATURE)]
        temperature: f32,
        /// Scale of the output's sampling noise (0 to 1; 1 is the paper's sampling, heard
        /// as hiss over the voice).
        #[arg(long, default_value_t = DEFAULT_NOISE)]
        noise: f32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 48_000)]
        sample_rate: u32,
    },
    /// Configuration, provenance and real-time cost of a model.
    Info {
        model: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn load(path: &PathBuf) -> Result<Arc<Model>> {
    Ok(Arc::new(Model::load(path)?))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit {
            inputs,
            output,
            preset,
            cell,
            steps,
            minutes,
            device,
            seed,
            resume,
            val_split,
            lr,
            batch_size,
            seq_len,
            clip,
            checkpoint_every,
            val_every,
            quiet,
        } => {
            anyhow::ensure!((0.0..0.9).contains(&val_split), "--val-split must be in [0, 0.9)");
            anyhow::ensure!(
                batch_size > 0 && seq_len > 0 && checkpoint_every > 0 && val_every > 0,
                "sizes and intervals must be positive"
            );
            let minutes = if steps.is_none() && minutes.is_none() { Some(30.0) } else { minutes };
            let cell = match cell {
                CellArg::Lstm => Cell::Lstm,
                CellArg::Gru => Cell::Gru,
            };
            let opts = FitOptions {
                inputs,
                output,
                preset,
                cell,
                steps,
                minutes,
                device,
                seed,
                resume,
                val_split,
                lr,
                batch: batch_size,
                seq_len,
                clip,
                checkpoint_every,
                val_every,
                quiet,
            };
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
            println!("model: {}\nvalidation negative ELBO: {:.3} nats per frame{change}, {} steps, {} skipped batches", o.model.display(), r.val_nelbo, r.steps, r.skipped);
            println!(
                "checkpoint: {}\nmetrics: {}\ncurves: {}",
                o.checkpoint.display(),
                o.metrics.display(),
                o.curves.display()
            );
        }
        Command::Eval { model, inputs, seq_len, seed, json } => {
            let e = eval::evaluate(load(&model)?, &inputs, seq_len, seed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?)
            } else {
                println!("{e}")
            }
        }
        Command::Sample { model, output, seconds, temperature, noise, seed, sample_rate } => {
            anyhow::ensure!(seconds > 0.0 && seconds <= 3600.0, "--seconds must be in (0, 3600]");
            let o = SampleOptions { seconds, temperature, noise, seed, sample_rate };
            let samples = render(load(&model)?, &o)?;
            write_wav(&output, &samples, sample_rate)?;
            println!("wrote {} ({seconds} s at {sample_rate} Hz)", output.display());
        }
        Command::Info { model, json } => {
            let i = info::measure(load(&model)?, 500);
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
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
