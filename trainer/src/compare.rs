//! `trainer compare`: the paper's Table 1 on the user's data. The five variants are trained
//! with the same preset, budget and seed, scored on the same held-out ranges, and written as a
//! Markdown table with a PNG of their validation curves.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use vrnn_core::{Domain, Model};

use crate::dataset::Dataset;
use crate::eval::{evaluate_signals, Evaluation};
use crate::fit::{fit, FitOptions, Outputs};
use crate::presets::{Preset, Variant};
use crate::{audio, plot};

/// `trainer compare`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct CompareOptions {
    /// audio files (WAV, FLAC, MP3, OGG, AIFF, M4A) or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Folder for the five models, the table (results.md) and the curves (curves.png).
    #[arg(short, long)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// Frame domain of every variant (time: the paper's waveform frames; mdct: the same
    /// likelihood through an orthogonal transform). Not hnm: its likelihood is one of
    /// vocoder parameters, which the paper's table does not compare.
    #[arg(long, default_value_t = Domain::Mdct)]
    pub domain: Domain,
    /// Training steps per variant.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Minutes of training per variant [default: 18 without --steps].
    #[arg(long)]
    pub minutes: Option<f64>,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Mixture components of the GMM variants.
    #[arg(long, default_value_t = 20)]
    pub mixtures: usize,
    #[arg(long = "batch-size", default_value_t = 32)]
    pub batch: usize,
    /// Posterior samples per sequence for the importance-sampled estimate.
    #[arg(long, default_value_t = 40)]
    pub is_samples: usize,
    /// Continue each variant from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start over even if the folder holds an earlier comparison (it is replaced).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
}

pub const VARIANTS: [(Variant, &str); 5] = [
    (Variant::RnnGauss, "rnn-gauss"),
    (Variant::RnnGmm, "rnn-gmm"),
    (Variant::VrnnIGauss, "vrnn-i-gauss"),
    (Variant::VrnnGauss, "vrnn-gauss"),
    (Variant::VrnnGmm, "vrnn-gmm"),
];

/// Trains and scores every variant; returns the Markdown table.
pub fn compare(o: &CompareOptions) -> Result<String> {
    std::fs::create_dir_all(&o.output)
        .with_context(|| format!("{}: cannot create", o.output.display()))?;
    let earlier: Vec<String> = std::iter::once("results.md".to_string())
        .chain(VARIANTS.iter().map(|(_, name)| format!("{name}.vrnn")))
        .filter(|f| o.output.join(f).exists())
        .collect();
    if !earlier.is_empty() && !o.resume && !o.force {
        anyhow::bail!(
            "{} already holds an earlier comparison ({}): use --resume to continue it, --force \
             to start over (replacing it), or -o for another folder",
            o.output.display(),
            earlier.join(", ")
        );
    }
    anyhow::ensure!(
        o.domain.waveform_likelihood(),
        "compare reproduces the paper's Table 1, a comparison of waveform likelihoods; an {} model's likelihood is a density of vocoder parameters: use --domain time or mdct",
        o.domain
    );
    let files = audio::collect_audio(&o.inputs)?;
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    // Table 1's rows in docs/results.md were trained and scored on 0.5 s sequences.
    const TABLE1_SEQ_LEN: usize = 40;
    for (variant, name) in VARIANTS {
        let mut opts = FitOptions::with_defaults(files.clone());
        opts.output = Some(o.output.join(format!("{name}.vrnn")));
        opts.preset = o.preset;
        opts.domain = o.domain;
        opts.variant = variant;
        opts.mixtures = o.mixtures;
        opts.steps = o.steps;
        opts.minutes = o.minutes.or(if o.steps.is_none() { Some(18.0) } else { None });
        opts.device.clone_from(&o.device);
        opts.seed = o.seed;
        opts.resume = o.resume;
        opts.force = o.force;
        opts.batch = o.batch;
        opts.seq_len = TABLE1_SEQ_LEN;
        eprintln!("== {name}");
        let report = fit(&opts)?;
        let model = Arc::new(Model::load(&report.outputs.model)?);
        // The held-out ranges fit used (same files, split and seed), as waveforms.
        let data = Dataset::load(&files, &model.config, opts.seq_len, opts.val_split, o.seed)?;
        let held_out = data.val_audio;
        let e = evaluate_signals(model, &held_out, opts.seq_len, o.seed, o.is_samples)?;
        curves.push((name, validation_curve(&report.outputs)?));
        rows.push(e);
    }
    let series: Vec<(&str, Vec<(f64, f64)>)> =
        curves.iter().map(|(n, c)| (*n, c.clone())).collect();
    plot::lines(
        &o.output.join("curves.png"),
        "validation",
        "step",
        "negative ELBO per frame (nats)",
        &series,
        (900, 540),
    )?;
    let table = table(&rows, started.elapsed().as_secs_f64() / 60.0, o);
    vrnn_core::write_atomic(&o.output.join("results.md"), table.as_bytes())?;
    Ok(table)
}

fn validation_curve(out: &Outputs) -> Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(&out.metrics)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["step"].as_f64()?, v["val_nelbo"].as_f64()?)))
        .collect())
}

/// The paper's Table 1 layout: log-likelihood (ELBO, ">=", or exact) and the IS estimate
/// ("~"), per 0.5 s sequence and per frame, in the raw waveform's scale.
fn table(rows: &[Evaluation], minutes: f64, o: &CompareOptions) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "| model | log p per 0.5 s sequence | IS estimate per sequence | log p per frame | IS estimate per frame |");
    let _ = writeln!(t, "|---|---|---|---|---|");
    for e in rows {
        let bound = if e.exact { "" } else { ">= " };
        let is = |v: Option<f64>, digits: usize| {
            v.map_or("-".to_string(), |v| format!("~ {:.*}", digits, -v))
        };
        let _ = writeln!(
            t,
            "| {} | {bound}{:.1} | {} | {bound}{:.2} | {} |",
            e.variant,
            -e.nelbo_per_sequence_raw,
            is(e.nll_is_per_sequence_raw, 1),
            -e.nelbo_per_frame_raw,
            is(e.nll_is_per_frame_raw, 2),
        );
    }
    let _ = writeln!(
        t,
        "\nNats, higher is better, in the raw waveform's scale (floats in [-1, 1]). {} frames in {} held-out sequences; \
         preset {:?}, {} domain, {} per variant, seed {}, {} IS samples. {:.1} minutes in all.",
        rows.first().map_or(0, |e| e.frames),
        rows.first().map_or(0, |e| e.sequences),
        o.preset,
        o.domain,
        o.steps.map_or_else(|| format!("{} minutes", o.minutes.unwrap_or(18.0)), |s| format!("{s} steps")),
        o.seed,
        o.is_samples,
        minutes
    );
    t
}
