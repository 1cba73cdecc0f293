//! The sound-match report: renders a model at its default settings, measures the render
//! against reference recordings with `sound`'s figures, checks the posterior
//! reconstruction (`resynth`) of held-out audio, and gives a plain verdict against fixed
//! bars (calibrated on real recordings: see the README).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use vrnn_core::stream::DEFAULT_TEMPERATURE;
use vrnn_core::{domain, Generator, Model, SoundMatch};

use crate::plot;
use crate::resynth::{resynthesise, Pick, ResynthOptions};
use crate::sound::{self, Features};

/// Seconds rendered for the report, per render.
pub const RENDER_SECONDS: f64 = 30.0;
/// Renders (seeds) per report: one seed can flatter a model or sink it.
pub const RENDERS: usize = 3;
/// Reference audio measured per recording, at most (its first minutes).
const REFERENCE_SECONDS: f64 = 120.0;
/// Held-out audio resynthesised, at most.
const RESYNTH_SECONDS: f64 = 60.0;

/// The bars a voice must clear to match its references.
pub mod bars {
    pub const LTAS_DB: f64 = 4.0;
    /// Flatness within this factor of the references', either way.
    pub const FLATNESS_FACTOR: f64 = 2.0;
    pub const LEVEL_DB: f64 = 3.0;
    pub const MODULATION_L1: f64 = 0.3;
    pub const MODULATION_2_8: f64 = 0.45;
    pub const VOICED_FRACTION: f64 = 0.45;
    pub const CLICK_RATIO: f64 = 1.2;
    pub const RESYNTH_LTAS_DB: f64 = 3.0;
    pub const RESYNTH_VOICED_DIFFERENCE: f64 = 0.15;
    /// The worst render's long-pause share at most this much above the references'.
    pub const LONG_PAUSE_EXCESS: f64 = 0.1;
}

/// The renders and their settings: `renders` renders of `seconds` each, at seeds `seed`,
/// `seed + 1`, ...
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RenderSettings {
    pub seconds: f64,
    pub temperature: f32,
    pub noise: f32,
    pub seed: u64,
    pub renders: usize,
}

impl RenderSettings {
    /// What a player hears first: the default temperature, the model domain's noise.
    pub fn defaults_for(config: &vrnn_core::ModelConfig) -> RenderSettings {
        RenderSettings {
            seconds: RENDER_SECONDS,
            temperature: DEFAULT_TEMPERATURE,
            noise: config.domain.default_noise(),
            seed: 0,
            renders: RENDERS,
        }
    }

    fn seeds(&self) -> impl Iterator<Item = u64> {
        let first = self.seed;
        (0..self.renders.max(1) as u64).map(move |k| first.wrapping_add(k))
    }
}

/// The figures of one render (or one recording) that tell renders apart.
#[derive(Clone, Debug, Serialize)]
pub struct RenderFigures {
    /// Against the references pooled.
    pub ltas_db: f64,
    /// Against the nearest single reference: a model of several speakers may speak as one
    /// of them in a render, which the pooled spectrum counts as a miss.
    pub nearest_ltas_db: f64,
    pub level_dbfs: f64,
    pub voiced_fraction: f64,
    pub long_pause_share: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ResynthMatch {
    pub ltas_db: f64,
    pub voiced_fraction: f64,
    pub original_voiced_fraction: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SoundReport {
    /// How the audio was rendered (none for a recording measured by `trainer match`).
    pub settings: Option<RenderSettings>,
    /// The renders pooled (spectra and modulation by power, the rest averaged).
    pub generated: Features,
    /// Each render on its own, in seed order.
    pub per_render: Vec<RenderFigures>,
    pub reference: Features,
    pub ltas_db: f64,
    /// Generated flatness over the references'.
    pub flatness_ratio: f64,
    /// Generated level minus the references', dB.
    pub level_difference_db: f64,
    pub modulation_l1: f64,
    pub modulation_2_8: f64,
    pub voiced_fraction: f64,
    pub click_ratio: f64,
    /// The worst render's.
    pub long_pause_share: f64,
    pub resynth: Option<ResynthMatch>,
    /// Every bar not cleared, in words.
    pub failed: Vec<String>,
    pub verdict: String,
}

/// Frames generated at `s`'s settings from `seed` and synthesised at the model's rate: what
/// the Stream feeds its resampler (without the spread schedule's first silent frame), so
/// frame boundaries fall on multiples of the frame size.
pub fn render(model: Arc<Model>, s: &RenderSettings, seed: u64) -> Vec<f32> {
    let c = &model.config;
    let n = c.frame_size;
    let frames = (s.seconds * c.sample_rate as f64 / n as f64).ceil() as usize;
    let mut codec = domain::codec(c);
    let mut generator = Generator::new(model.clone(), seed);
    let mut out = vec![0.0; frames * n];
    for o in out.chunks_exact_mut(n) {
        codec.synthesise(generator.step(s.temperature, s.noise), o);
    }
    out
}

fn first_seconds(x: &[f32], rate: u32, seconds: f64) -> Vec<f32> {
    x[..x.len().min((seconds * rate as f64) as usize)].to_vec()
}

/// The report of `model` against `references`, with the resynthesis of `held_out` (both
/// waveforms at the model's rate; `held_out` may be empty). Writes the spectrograms to
/// `png` when given.
pub fn report(
    model: Arc<Model>,
    references: &[Vec<f32>],
    held_out: &[Vec<f32>],
    settings: RenderSettings,
    png: Option<&Path>,
) -> Result<SoundReport> {
    anyhow::ensure!(!references.is_empty(), "the sound report needs reference audio");
    let (rate, n) = (model.config.sample_rate, model.config.frame_size);
    let references: Vec<Vec<f32>> =
        references.iter().map(|r| first_seconds(r, rate, REFERENCE_SECONDS)).collect();
    let renders: Vec<Vec<f32>> =
        settings.seeds().map(|seed| render(model.clone(), &settings, seed)).collect();
    let resynthesised = resynthesise_held_out(&model, held_out, &settings);
    if let Some(png) = png {
        let first = resynthesised.first().map(|(o, r)| (o, r));
        spectrograms(png, rate, &references[0], &renders[0], first)?;
    }
    let resynth = resynth_match(&resynthesised, rate, n);
    Ok(measure(&renders, &references, rate, n, Some(settings), resynth))
}

/// The report of any audio (`renders`, at `rate`, framed by `frame`) against
/// `references`: what `report` does after rendering, and `trainer match` on a file.
pub fn measure(
    renders: &[Vec<f32>],
    references: &[Vec<f32>],
    rate: u32,
    frame: usize,
    settings: Option<RenderSettings>,
    resynth: Option<ResynthMatch>,
) -> SoundReport {
    let reference = sound::pooled(references, rate, frame);
    let each: Vec<Features> = match references.len() {
        1 => vec![reference.clone()],
        _ => references.iter().map(|r| sound::features(r, rate, frame, 0)).collect(),
    };
    let per_render: Vec<RenderFigures> = renders
        .iter()
        .map(|x| {
            let f = sound::features(x, rate, frame, 0);
            RenderFigures {
                ltas_db: sound::ltas_distance(&f, &reference),
                nearest_ltas_db: each
                    .iter()
                    .map(|r| sound::ltas_distance(&f, r))
                    .fold(f64::INFINITY, f64::min),
                level_dbfs: f.level_dbfs,
                voiced_fraction: f.voiced_fraction,
                long_pause_share: f.long_pause_share,
            }
        })
        .collect();
    let generated = sound::pooled(renders, rate, frame);
    let mut r = SoundReport {
        settings,
        per_render: per_render.clone(),
        long_pause_share: per_render.iter().map(|f| f.long_pause_share).fold(0.0, f64::max),
        ltas_db: sound::ltas_distance(&generated, &reference),
        flatness_ratio: generated.flatness / reference.flatness.max(1e-12),
        level_difference_db: generated.level_dbfs - reference.level_dbfs,
        modulation_l1: sound::modulation_distance(&generated, &reference),
        modulation_2_8: generated.modulation_2_8(),
        voiced_fraction: generated.voiced_fraction,
        click_ratio: generated.click_ratio,
        generated,
        reference,
        resynth,
        failed: Vec::new(),
        verdict: String::new(),
    };
    r.failed = failures(&r);
    r.verdict = verdict(&r);
    r
}

/// Resynthesis as a player would hear it at these settings: the posterior mean of z_t and
/// the render's output noise.
fn resynth_options(s: &RenderSettings) -> ResynthOptions {
    ResynthOptions { z: Pick::Mean, noise: s.noise, seed: s.seed }
}

/// Stretches of the held-out recordings (RESYNTH_SECONDS in all, those of at least a
/// second) with their resynthesis.
fn resynthesise_held_out(
    model: &Arc<Model>,
    held_out: &[Vec<f32>],
    settings: &RenderSettings,
) -> Vec<(Vec<f32>, Vec<f32>)> {
    let rate = model.config.sample_rate;
    held_out
        .iter()
        .map(|h| first_seconds(h, rate, RESYNTH_SECONDS / held_out.len() as f64))
        .filter(|h| h.len() >= rate as usize)
        .map(|h| {
            let r = resynthesise(model.clone(), &h, resynth_options(settings));
            (h, r)
        })
        .collect()
}

fn resynth_match(pairs: &[(Vec<f32>, Vec<f32>)], rate: u32, n: usize) -> Option<ResynthMatch> {
    if pairs.is_empty() {
        return None;
    }
    let (originals, resynthesised): (Vec<Vec<f32>>, Vec<Vec<f32>>) = pairs.iter().cloned().unzip();
    let (a, b) = (sound::pooled(&originals, rate, n), sound::pooled(&resynthesised, rate, n));
    Some(ResynthMatch {
        ltas_db: sound::ltas_distance(&a, &b),
        voiced_fraction: b.voiced_fraction,
        original_voiced_fraction: a.voiced_fraction,
    })
}

fn failures(r: &SoundReport) -> Vec<String> {
    use bars::*;
    let mut failed = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    check(
        r.ltas_db <= LTAS_DB,
        format!("spectrum {:.1} dB from the references (bar {LTAS_DB})", r.ltas_db),
    );
    check(
        (1.0 / FLATNESS_FACTOR..=FLATNESS_FACTOR).contains(&r.flatness_ratio),
        format!(
            "flatness {:.2}x the references' (bar within {FLATNESS_FACTOR}x)",
            r.flatness_ratio
        ),
    );
    check(
        r.level_difference_db.abs() <= LEVEL_DB,
        format!("level {:+.1} dB off (bar {LEVEL_DB})", r.level_difference_db),
    );
    check(
        r.modulation_l1 <= MODULATION_L1,
        format!("rhythm (modulation L1) {:.2} (bar {MODULATION_L1})", r.modulation_l1),
    );
    check(
        r.modulation_2_8 >= MODULATION_2_8,
        format!("syllable rhythm (2-8 Hz share) {:.2} (bar {MODULATION_2_8})", r.modulation_2_8),
    );
    check(
        r.voiced_fraction >= VOICED_FRACTION,
        format!("voiced fraction {:.2} (bar {VOICED_FRACTION})", r.voiced_fraction),
    );
    check(
        r.click_ratio <= CLICK_RATIO,
        format!("click ratio {:.2} (bar {CLICK_RATIO})", r.click_ratio),
    );
    let pause_bar = r.reference.long_pause_share + LONG_PAUSE_EXCESS;
    check(
        r.long_pause_share <= pause_bar,
        format!(
            "long pauses {:.2} of the worst render (bar {pause_bar:.2}: the references' + {LONG_PAUSE_EXCESS})",
            r.long_pause_share
        ),
    );
    if let Some(s) = &r.resynth {
        check(
            s.ltas_db <= RESYNTH_LTAS_DB,
            format!(
                "resynthesis spectrum {:.1} dB from the original (bar {RESYNTH_LTAS_DB})",
                s.ltas_db
            ),
        );
        let d = (s.voiced_fraction - s.original_voiced_fraction).abs();
        check(
            d <= RESYNTH_VOICED_DIFFERENCE,
            format!("resynthesis voiced fraction {d:.2} off (bar {RESYNTH_VOICED_DIFFERENCE})"),
        );
    }
    failed
}

/// Matches (every bar cleared), close (the spectrum within 1.5x its bar and at most two
/// other bars missed), or does not match.
fn verdict(r: &SoundReport) -> String {
    if r.failed.is_empty() {
        "matches its references".to_string()
    } else if r.ltas_db <= 1.5 * bars::LTAS_DB && r.failed.len() <= 3 {
        format!("close to its references; misses: {}", r.failed.join("; "))
    } else {
        format!("does not match its references: {}", r.failed.join("; "))
    }
}

impl SoundReport {
    /// The summary stored in the model's provenance (and shown by the plugin).
    pub fn summary(&self, references: &str) -> SoundMatch {
        SoundMatch {
            verdict: self.verdict.clone(),
            references: references.to_string(),
            ltas_db: self.ltas_db,
            voiced_fraction: self.voiced_fraction,
            click_ratio: self.click_ratio,
        }
    }
}

fn spectrograms(
    png: &Path,
    rate: u32,
    reference: &[f32],
    generated: &[f32],
    resynth: Option<(&Vec<f32>, &Vec<f32>)>,
) -> Result<()> {
    let seconds = 10.0;
    let span = |x: &[f32]| (x.len() as f64 / rate as f64).min(seconds);
    let mut panels = vec![
        ("reference", sound::spectrogram(reference, rate, seconds), span(reference)),
        (
            "generated (default settings)",
            sound::spectrogram(generated, rate, seconds),
            span(generated),
        ),
    ];
    if let Some((original, resynthesised)) = resynth {
        panels.push(("held out", sound::spectrogram(original, rate, seconds), span(original)));
        panels.push((
            "its resynthesis",
            sound::spectrogram(resynthesised, rate, seconds),
            span(resynthesised),
        ));
    }
    plot::spectrograms(png, &panels, rate as f64 / 2.0, -80.0, (400 * panels.len() as u32, 360))
}

impl std::fmt::Display for SoundReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (g, r) = (&self.generated, &self.reference);
        match &self.settings {
            Some(s) => writeln!(
                f,
                "sound match: {} renders of {:.0} s at temperature {}, noise {}, seeds {}-{} against the references",
                s.renders,
                s.seconds,
                s.temperature,
                s.noise,
                s.seed,
                s.seed + s.renders.max(1) as u64 - 1
            )?,
            None => writeln!(f, "sound match against the references")?,
        }
        writeln!(f, "  spectrum (LTAS, third octaves): {:.1} dB RMS apart", self.ltas_db)?;
        writeln!(
            f,
            "  flatness: {:.3} vs {:.3} ({:.2}x)",
            g.flatness, r.flatness, self.flatness_ratio
        )?;
        writeln!(f, "  level: {:.1} vs {:.1} dBFS", g.level_dbfs, r.level_dbfs)?;
        writeln!(
            f,
            "  rhythm: modulation L1 {:.2}, 2-8 Hz share {:.2} vs {:.2}",
            self.modulation_l1,
            self.modulation_2_8,
            r.modulation_2_8()
        )?;
        writeln!(f, "  voiced fraction: {:.2} vs {:.2}", g.voiced_fraction, r.voiced_fraction)?;
        writeln!(f, "  click ratio at frame boundaries: {:.2}", self.click_ratio)?;
        writeln!(
            f,
            "  long pauses (silences of 1 s or more): {:.2} of the worst render vs {:.2}",
            self.long_pause_share, r.long_pause_share
        )?;
        if self.per_render.len() > 1 {
            let first = self.settings.map_or(0, |s| s.seed);
            for (k, p) in self.per_render.iter().enumerate() {
                writeln!(
                    f,
                    "    seed {}: spectrum {:.1} dB ({:.1} from the nearest reference), level {:.1} dBFS, voiced {:.2}, long pauses {:.2}",
                    first + k as u64,
                    p.ltas_db,
                    p.nearest_ltas_db,
                    p.level_dbfs,
                    p.voiced_fraction,
                    p.long_pause_share
                )?;
            }
        }
        if let Some(s) = &self.resynth {
            writeln!(
                f,
                "  resynthesis of held-out audio: spectrum {:.1} dB from the original, voiced {:.2} vs {:.2}",
                s.ltas_db, s.voiced_fraction, s.original_voiced_fraction
            )?;
        }
        write!(f, "verdict: {}", self.verdict)
    }
}

/// The report `fit` makes at its end: the model against its own training recordings (the
/// validation ranges resynthesised), the spectrograms beside the model, and the summary
/// written into the model's provenance.
pub fn after_training(
    model_path: &Path,
    files: &[std::path::PathBuf],
    held_out: &[Vec<f32>],
    png: &Path,
) -> Result<SoundReport> {
    let mut file = vrnn_core::ModelFile::load(model_path)?;
    let model = Arc::new(Model::from_file(&file));
    let references = crate::audio::load_all(files, model.config.sample_rate, 0.0)?;
    let settings = RenderSettings::defaults_for(&model.config);
    let r = report(model, &references, held_out, settings, Some(png))?;
    file.config.provenance.sound = Some(r.summary("its training recordings"));
    file.save(model_path)?;
    Ok(r)
}
