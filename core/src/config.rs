//! The model's configuration: every architecture the paper compares, the data
//! normalisation and the training provenance. Stored as JSON in the model file.

use serde::{Deserialize, Serialize};

/// Version of the model file layout; bumped when tensor names or meanings change.
pub const FORMAT_VERSION: u32 = 1;

/// Upper bounds that keep a hostile or corrupted configuration from allocating without
/// bound. Far above anything that runs in real time.
pub const MAX_HIDDEN: usize = 4096;
pub const MAX_WIDTH: usize = 4096;
pub const MAX_LATENT: usize = 1024;
pub const MAX_LAYERS: usize = 8;
pub const MAX_FRAME: usize = 4096;
pub const MAX_COMPONENTS: usize = 64;
pub const MAX_PARAMETERS: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    /// Rows of the fused gate matrix per hidden unit (i, f, g, o or r, z, n).
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// Where the latent variable comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Latent {
    /// VRNN: prior conditioned on h_{t-1}.
    Conditional,
    /// VRNN-I: prior fixed at N(0, I).
    Independent,
    /// RNN baselines: no latent variable at all.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Output {
    Gauss,
    /// K components whose mixture weights are shared over the frame.
    Gmm {
        components: usize,
    },
}

impl Output {
    pub fn components(self) -> usize {
        match self {
            Output::Gauss => 1,
            Output::Gmm { components } => components,
        }
    }
}

/// A ReLU MLP: `layers` hidden layers of `width` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mlp {
    pub layers: usize,
    pub width: usize,
}

impl Mlp {
    pub const fn new(layers: usize, width: usize) -> Self {
        Mlp { layers, width }
    }
}

/// What a frame vector holds (see `crate::domain`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// The paper's: consecutive waveform samples.
    #[default]
    Time,
    /// Coefficients of an orthogonal lapped transform (sine window, hop = frame size).
    Mdct,
    /// Harmonic-plus-noise vocoder parameters: log f0 and the harmonic and noise
    /// envelopes (`crate::domain::hnm`).
    Hnm,
}

impl Domain {
    /// The output noise a player should start from. In the time domain the decoder's sigma
    /// is white within a frame, heard as hiss, so a little of it (0.3) sounds best; in the
    /// MDCT domain sigma is shaped like the voice's spectrum and carries most of its energy
    /// (fricatives, breath, the detail of voiced sounds), so the model's own sampling (1) is
    /// the natural level: at 0.3 an MDCT voice is about 20 dB too quiet and dull (measured:
    /// docs/sound.md). In the hnm domain sigma is the frame-to-frame variation of pitch and
    /// envelopes that the latent leaves open; sampling it fully (1) measured closest to
    /// the training voices (at 0 and 0.25 the voice is 5-6 dB too quiet and its spectrum
    /// further away).
    pub const fn default_noise(self) -> f32 {
        match self {
            Domain::Time => 0.3,
            Domain::Mdct => 1.0,
            Domain::Hnm => HNM_DEFAULT_NOISE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Domain::Time => "time",
            Domain::Mdct => "mdct",
            Domain::Hnm => "hnm",
        }
    }

    /// Whether the model's likelihood is one of the waveform (the time domain, and the MDCT
    /// through an orthogonal transform) rather than of vocoder parameters.
    pub const fn waveform_likelihood(self) -> bool {
        !matches!(self, Domain::Hnm)
    }
}

/// The hnm domain's default output noise (measured: docs/sound.md).
const HNM_DEFAULT_NOISE: f32 = 1.0;

impl std::str::FromStr for Domain {
    type Err = String;
    fn from_str(s: &str) -> Result<Domain, String> {
        match s {
            "time" => Ok(Domain::Time),
            "mdct" => Ok(Domain::Mdct),
            "hnm" => Ok(Domain::Hnm),
            _ => Err(format!("'{s}' is not a frame domain: use time, mdct or hnm")),
        }
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Normalisation of the frame vectors: model space
/// x_i = (raw_i - mean - centre_i) / (std * scale_i). The waveform's global mean and std;
/// for spectral domains one scale per coefficient; for parameter domains (hnm) also one
/// centre per parameter (empty: all 0 / all 1, as in every time-domain model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub mean: f32,
    pub std: f32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centre: Vec<f32>,
}

impl Normalisation {
    pub fn global(mean: f32, std: f32) -> Normalisation {
        Normalisation { mean, std, scale: Vec::new(), centre: Vec::new() }
    }

    /// The offset subtracted at frame position i.
    pub fn mean_at(&self, i: usize) -> f32 {
        self.mean + self.centre.get(i).copied().unwrap_or(0.0)
    }

    /// The offsets of a whole frame of `frame` values.
    pub fn frame_mean(&self, frame: usize) -> Vec<f32> {
        (0..frame).map(|i| self.mean_at(i)).collect()
    }

    /// The divisor of frame position i.
    pub fn std_at(&self, i: usize) -> f32 {
        self.std * self.scale.get(i).copied().unwrap_or(1.0)
    }

    /// The divisors of a whole frame of `frame` values.
    pub fn frame_std(&self, frame: usize) -> Vec<f32> {
        (0..frame).map(|i| self.std_at(i)).collect()
    }

    /// ln |det| of the map from model space back to raw values, per frame: what turns a
    /// density in model space into one in the waveform's own scale (the domains'
    /// transforms are orthogonal and add nothing).
    pub fn log_det(&self, frame: usize) -> f64 {
        (0..frame).map(|i| (self.std_at(i) as f64).ln()).sum()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The recordings the model was trained on (file names).
    pub data: Vec<String>,
    pub steps: u64,
    /// RFC 3339 date of the last training step.
    pub date: String,
    pub trainer_version: String,
    /// Validation negative ELBO per frame (normalised space), when known.
    #[serde(default)]
    pub validation_nelbo: Option<f64>,
    /// The sound-match report against the training audio, when made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<SoundMatch>,
}

/// The sound-match report's summary (`trainer eval --sound`, and the end of `fit`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SoundMatch {
    pub verdict: String,
    /// What the render was compared with.
    pub references: String,
    /// Long-term spectrum distance, dB RMS over third-octave bands.
    pub ltas_db: f64,
    pub voiced_fraction: f64,
    pub click_ratio: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub format_version: u32,
    pub cell: Cell,
    pub hidden: usize,
    pub latent: Latent,
    /// Size of z; ignored (and 0) when `latent` is `None`.
    pub latent_size: usize,
    pub output: Output,
    pub phi_x: Mlp,
    pub phi_z: Mlp,
    pub prior: Mlp,
    pub encoder: Mlp,
    pub decoder: Mlp,
    /// Samples per frame (the hop between frames).
    pub frame_size: usize,
    pub sample_rate: u32,
    /// Files written before frame domains existed are time-domain models.
    #[serde(default)]
    pub domain: Domain,
    pub normalisation: Normalisation,
    #[serde(default)]
    pub provenance: Provenance,
}

impl Default for ModelConfig {
    /// The paper's speech configuration, scaled to a real-time instrument.
    fn default() -> Self {
        ModelConfig::uniform(
            Cell::Lstm,
            256,
            Latent::Conditional,
            64,
            Output::Gauss,
            Mlp::new(2, 256),
        )
    }
}

impl ModelConfig {
    /// A configuration whose five MLPs share one shape (the paper's setting, and the presets'),
    /// with 200-sample frames at 16 kHz and no normalisation yet.
    pub fn uniform(
        cell: Cell,
        hidden: usize,
        latent: Latent,
        latent_size: usize,
        output: Output,
        mlp: Mlp,
    ) -> ModelConfig {
        ModelConfig {
            format_version: FORMAT_VERSION,
            cell,
            hidden,
            latent,
            latent_size: if latent == Latent::None { 0 } else { latent_size },
            output,
            phi_x: mlp,
            phi_z: mlp,
            prior: mlp,
            encoder: mlp,
            decoder: mlp,
            frame_size: 200,
            sample_rate: 16_000,
            domain: Domain::Time,
            normalisation: Normalisation::global(0.0, 1.0),
            provenance: Provenance::default(),
        }
    }

    pub fn has_latent(&self) -> bool {
        self.latent != Latent::None
    }

    pub fn z_size(&self) -> usize {
        if self.has_latent() {
            self.latent_size
        } else {
            0
        }
    }

    /// Width of phi_z's output (0 without a latent).
    pub fn phi_z_out(&self) -> usize {
        if self.has_latent() {
            self.phi_z.width
        } else {
            0
        }
    }

    /// Input size of the recurrent cell: [phi_x(x), phi_z(z)].
    pub fn rnn_input(&self) -> usize {
        self.phi_x.width + self.phi_z_out()
    }

    /// Input size of the decoder: [phi_z(z), h].
    pub fn decoder_input(&self) -> usize {
        self.phi_z_out() + self.hidden
    }

    /// Checks every size against sane bounds, so nothing is allocated for an absurd file.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                self.format_version
            ));
        }
        let bounded = |what: &str, v: usize, lo: usize, hi: usize| {
            if v < lo || v > hi {
                Err(format!("{what} = {v} is outside {lo}..={hi}"))
            } else {
                Ok(())
            }
        };
        bounded("hidden", self.hidden, 1, MAX_HIDDEN)?;
        bounded("frame_size", self.frame_size, 1, MAX_FRAME)?;
        bounded("output components", self.output.components(), 1, MAX_COMPONENTS)?;
        if !(1000..=384_000).contains(&self.sample_rate) {
            return Err(format!("sample_rate = {} Hz is outside 1000..=384000", self.sample_rate));
        }
        let mut mlps = vec![("phi_x", self.phi_x), ("decoder", self.decoder)];
        if self.has_latent() {
            bounded("latent_size", self.latent_size, 1, MAX_LATENT)?;
            mlps.extend([("phi_z", self.phi_z), ("encoder", self.encoder)]);
            if self.latent == Latent::Conditional {
                mlps.push(("prior", self.prior));
            }
        }
        for (name, mlp) in mlps {
            bounded(&format!("{name}.layers"), mlp.layers, 1, MAX_LAYERS)?;
            bounded(&format!("{name}.width"), mlp.width, 1, MAX_WIDTH)?;
        }
        let n = &self.normalisation;
        if !(n.mean.is_finite() && n.std.is_finite() && n.std > 0.0) {
            return Err(format!(
                "normalisation mean {} / std {} must be finite with std > 0",
                n.mean, n.std
            ));
        }
        let dim = self.frame_dim();
        for (what, values) in [("scales", &n.scale), ("centres", &n.centre)] {
            if !values.is_empty() && values.len() != dim {
                return Err(format!(
                    "normalisation has {} per-position {what} for frames of {dim} values",
                    values.len()
                ));
            }
        }
        if let Some(i) = n.scale.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(format!(
                "normalisation scale {i} is {} (must be finite and > 0)",
                n.scale[i]
            ));
        }
        if let Some(i) = n.centre.iter().position(|c| !c.is_finite()) {
            return Err(format!("normalisation centre {i} is {} (must be finite)", n.centre[i]));
        }
        let params = crate::names::tensor_specs(self)
            .iter()
            .map(|t| t.shape.iter().product::<usize>())
            .sum::<usize>();
        if params > MAX_PARAMETERS {
            return Err(format!("{params} parameters exceed the limit of {MAX_PARAMETERS}"));
        }
        Ok(())
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        crate::names::tensor_specs(self).iter().map(|t| t.shape.iter().product::<usize>()).sum()
    }

    /// Short name of the variant in the paper's terms.
    pub fn variant_name(&self) -> &'static str {
        match (self.latent, self.output) {
            (Latent::Conditional, Output::Gauss) => "VRNN-Gauss",
            (Latent::Conditional, Output::Gmm { .. }) => "VRNN-GMM",
            (Latent::Independent, Output::Gauss) => "VRNN-I-Gauss",
            (Latent::Independent, Output::Gmm { .. }) => "VRNN-I-GMM",
            (Latent::None, Output::Gauss) => "RNN-Gauss",
            (Latent::None, Output::Gmm { .. }) => "RNN-GMM",
        }
    }

    /// Values in one frame vector x_t: the frame's samples or coefficients, or the hnm
    /// domain's parameters.
    pub fn frame_dim(&self) -> usize {
        match self.domain {
            Domain::Time | Domain::Mdct => self.frame_size,
            Domain::Hnm => crate::domain::hnm::DIM,
        }
    }

    /// The pitch ratio that plays MIDI `note`. An hnm model sings the note: its voice's
    /// typical f0 (the training audio's mean log f0) moves to the note's frequency. Other
    /// domains play middle C (60) at the model's own speed and transpose by varispeed.
    pub fn note_ratio(&self, note: u8) -> f64 {
        let semitones = note as f64 - 60.0;
        match self.domain {
            Domain::Hnm => {
                let note_hz = 440.0 * 2f64.powf((note as f64 - 69.0) / 12.0);
                note_hz / (self.normalisation.mean_at(crate::domain::hnm::F0) as f64).exp()
            }
            Domain::Time | Domain::Mdct => 2f64.powf(semitones / 12.0),
        }
    }

    /// Duration of one frame in seconds.
    pub fn frame_seconds(&self) -> f64 {
        self.frame_size as f64 / self.sample_rate as f64
    }
}
