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

pub const MAX_SEED: i32 = 9999;

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
    /// The loaded model file; empty for the built-in voice.
    #[persist = "model-path"]
    pub model_path: ModelPath,
    /// How the model's weights are held: f16 and bf16 stream half the bytes per step.
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
            .with_step_size(0.01),
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
            model_path: ModelPath::default(),
            precision: RwLock::new(Precision::F32),
        }
    }
}
