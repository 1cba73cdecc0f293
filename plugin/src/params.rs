//! The instrument's parameters: automatable, smoothed where continuous.

use std::sync::{OnceLock, RwLock};

use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use vrnn_core::stream::{DEFAULT_NOISE, DEFAULT_TEMPERATURE};
use vrnn_core::Precision;

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The voice runs continuously.
    #[name = "Free"]
    Free,
    /// A note-on starts a fresh voice at the note's pitch; a note-off releases it.
    #[name = "MIDI"]
    Midi,
}

/// When the model's steps run.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Each step spread over the playback of the frame before it: every callback carries
    /// a similar share, for one frame more latency.
    #[name = "Smooth"]
    Smooth,
    /// Each step whole in the callback that needs its frame: a frame less latency, and that
    /// callback carries the step's full cost.
    #[name = "Live"]
    Live,
}

impl Latency {
    pub fn schedule(self) -> vrnn_core::stream::Schedule {
        match self {
            Latency::Smooth => vrnn_core::stream::Schedule::Spread,
            Latency::Live => vrnn_core::stream::Schedule::Immediate,
        }
    }
}

pub const MAX_SEED: i32 = 9999;
/// Temperature's id for CLAP polyphonic modulation.
pub const TEMPERATURE_MODULATION: u32 = 0;

/// The Input Gate's lowest setting: off.
pub const GATE_OFF_DB: f32 = -90.0;

/// The listener's gate for the Input Gate parameter's value: off at its lowest.
pub fn gate_db(value: f32) -> f32 {
    if value <= GATE_OFF_DB {
        f32::NEG_INFINITY
    } else {
        value
    }
}

/// A note's gain for a velocity in 0..=1 at the Velocity parameter's `sensitivity`.
pub fn velocity_gain(velocity: f32, sensitivity: f32) -> f32 {
    velocity.clamp(0.0, 1.0).powf(2.0 * sensitivity)
}

/// Pitch bend (0..=1, 0.5 at rest) as a frequency ratio over +-`range` semitones.
pub fn bend_ratio(value: f32, range: f32) -> f32 {
    2f32.powf((value.clamp(0.0, 1.0) - 0.5) * 2.0 * range / 12.0)
}

/// The temperature a voice's polyphonic modulation adds: the parameter at its normalised
/// value plus the host's `offset` (clamped to the range), less the parameter's own value.
pub fn temperature_change(temperature: &FloatParam, offset: f32) -> f32 {
    let normalised = temperature.modulated_normalized_value();
    temperature.preview_plain(normalised + offset) - temperature.preview_plain(normalised)
}

#[derive(Params)]
pub struct SynthParams {
    /// Scale of the latent's sampling noise: 0 follows the prior's mean.
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// Scale of the output's sampling noise: 0 plays the decoder's mean.
    #[id = "noise"]
    pub noise: FloatParam,
    #[id = "seed"]
    pub seed: IntParam,
    #[id = "gain"]
    pub gain: FloatParam,
    /// 0 = mono; above 0 the right channel blends in a second voice with a derived seed.
    #[id = "width"]
    pub width: FloatParam,
    /// Shift of the spectral envelope in semitones (hnm models: the formants move, the
    /// pitch stays; other domains ignore it).
    #[id = "formant"]
    pub formant: FloatParam,
    #[id = "mode"]
    pub mode: EnumParam<Mode>,
    #[id = "latency"]
    pub latency: EnumParam<Latency>,
    /// MIDI voices: how many notes sound at once (stealing the oldest beyond that); 1 is
    /// monophonic and replays the Seed's voice at every note.
    #[id = "voices"]
    pub voices: IntParam,
    /// How much a note's velocity sets its level: the gain is velocity^(2 x this), so 0
    /// ignores velocity and 1 is a square law (-24 dB at velocity 32 against 127).
    #[id = "velocity"]
    pub velocity: FloatParam,
    /// Pitch bend range in semitones, up and down.
    #[id = "bend-range"]
    pub bend_range: FloatParam,
    /// A peak limiter at -0.3 dBFS before the output (no latency).
    #[id = "limiter"]
    pub limiter: BoolParam,
    /// How far each step follows the audio input (main input, or the sidechain of the
    /// instrument layout): 0 improvises from the prior, 1 resynthesises the input.
    #[id = "follow"]
    pub follow: FloatParam,
    /// Input below this level (RMS per frame) is not followed: the voice improvises. At its
    /// lowest (GATE_OFF_DB) the gate is off and silence is followed too.
    #[id = "input-gate"]
    pub input_gate: FloatParam,
    /// The generated voice against the (latency-aligned) input.
    #[id = "dry-wet"]
    pub dry_wet: FloatParam,
    /// The loaded model file; empty for the built-in voice.
    #[persist = "model-path"]
    pub model_path: ModelPath,
    /// How the model's weights are held: f16 and bf16 stream half the bytes per step,
    /// int8 a quarter.
    #[persist = "precision"]
    pub precision: RwLock<Precision>,
}

impl SynthParams {
    pub fn precision(&self) -> Precision {
        self.precision.read().map_or(Precision::F32, |p| *p)
    }

    pub fn set_precision(&self, precision: Precision) {
        if let Ok(mut p) = self.precision.write() {
            *p = precision;
        }
    }
}

type RestoreHook = Box<dyn Fn(String) + Send + Sync>;

/// The model path saved in the plugin state. When the host restores a different one (a
/// preset or project change), the hook loads it.
#[derive(Default)]
pub struct ModelPath {
    path: RwLock<String>,
    on_restore: OnceLock<RestoreHook>,
}

impl ModelPath {
    pub fn get(&self) -> String {
        self.path.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// Records the path of a model the plugin loaded itself.
    pub fn set_quiet(&self, path: &str) {
        if let Ok(mut p) = self.path.write() {
            p.replace_range(.., path);
        }
    }

    pub fn on_restore(&self, hook: RestoreHook) {
        let _ = self.on_restore.set(hook);
    }
}

impl<'a> PersistentField<'a, String> for ModelPath {
    fn set(&self, new_value: String) {
        let changed = self.get() != new_value;
        self.set_quiet(&new_value);
        if changed {
            if let Some(hook) = self.on_restore.get() {
                hook(new_value);
            }
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        f(&self.get())
    }
}

impl Default for SynthParams {
    fn default() -> Self {
        let smooth = SmoothingStyle::Linear(30.0);
        SynthParams {
            temperature: FloatParam::new(
                "Temperature",
                DEFAULT_TEMPERATURE,
                FloatRange::Linear { min: 0.0, max: 2.0 },
            )
            .with_smoother(smooth.clone())
            .with_step_size(0.01)
            .with_poly_modulation_id(TEMPERATURE_MODULATION),
            noise: FloatParam::new(
                "Noise",
                DEFAULT_NOISE,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_smoother(smooth.clone())
            .with_step_size(0.01),
            seed: IntParam::new("Seed", 0, IntRange::Linear { min: 0, max: MAX_SEED }),
            gain: FloatParam::new("Gain", 0.0, FloatRange::Linear { min: -48.0, max: 12.0 })
                .with_smoother(SmoothingStyle::Linear(20.0))
                .with_step_size(0.1)
                .with_unit(" dB"),
            width: FloatParam::new("Width", 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_smoother(smooth.clone())
                .with_step_size(0.01),
            formant: FloatParam::new("Formant", 0.0, FloatRange::Linear { min: -12.0, max: 12.0 })
                .with_smoother(smooth)
                .with_step_size(0.1)
                .with_unit(" st"),
            mode: EnumParam::new("Mode", Mode::Free),
            latency: EnumParam::new("Latency", Latency::Smooth),
            voices: IntParam::new(
                "Voices",
                8,
                IntRange::Linear { min: 1, max: crate::engine::MAX_VOICES as i32 },
            ),
            velocity: FloatParam::new("Velocity", 0.5, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_step_size(0.01),
            bend_range: FloatParam::new(
                "Bend Range",
                2.0,
                FloatRange::Linear { min: 0.0, max: 24.0 },
            )
            .with_step_size(1.0)
            .with_unit(" st"),
            limiter: BoolParam::new("Limiter", true),
            follow: FloatParam::new("Follow", 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_step_size(0.01),
            input_gate: FloatParam::new(
                "Input Gate",
                vrnn_core::listen::DEFAULT_GATE_DB,
                FloatRange::Linear { min: GATE_OFF_DB, max: 0.0 },
            )
            .with_step_size(1.0)
            .with_unit(" dB"),
            dry_wet: FloatParam::new("Dry/Wet", 1.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_smoother(SmoothingStyle::Linear(20.0))
                .with_step_size(0.01),
            model_path: ModelPath::default(),
            precision: RwLock::new(Precision::F32),
        }
    }
}
