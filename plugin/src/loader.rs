//! Model loading off the audio thread: read, validate and pack on a background thread, then
//! hand a ready engine to the audio thread over a lock-free channel. Old engines come back
//! over another channel and are dropped on a thread of their own.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use nice_plug::prelude::*;
use vrnn_core::builtin::{builtin_voice, BUILTIN_NAME};
use vrnn_core::{Model, ModelFile, Precision};

use crate::engine::Engine;
use crate::params::SynthParams;
use crate::telemetry::Meters;
use crate::VrnnSynth;

/// Work for the background thread.
#[derive(Debug, Clone)]
pub enum Task {
    Load(PathBuf),
    UseBuiltin,
    /// Reloads the current model with its weights in another format.
    SetPrecision(Precision),
}

/// The model the instrument plays (or will play once active).
#[derive(Clone)]
pub struct Selected {
    pub model: Arc<Model>,
    pub name: String,
    /// Empty for the built-in model.
    pub path: String,
}

impl Selected {
    pub fn precision(&self) -> Precision {
        self.model.precision
    }
}

/// State shared by the plugin, the background thread and the editor. The locks are taken by
/// those threads only, never by the audio thread, which reads `meters` (atomics).
pub struct Shared {
    pub meters: Meters,
    pub selected: Mutex<Selected>,
    /// The last loading problem, shown in the editor; empty when all is well.
    pub status: Mutex<String>,
    builtin: ModelFile,
}

fn builtin_file() -> ModelFile {
    // Embedded and tested at build time: failing here is a build defect.
    builtin_voice().expect("the embedded built-in model is valid")
}

impl Shared {
    pub fn new() -> Shared {
        let builtin = builtin_file();
        let model = Arc::new(Model::from_file(&builtin));
        let selected = Selected { model, name: BUILTIN_NAME.into(), path: String::new() };
        Shared {
            meters: Meters::default(),
            selected: Mutex::new(selected),
            status: Mutex::new(String::new()),
            builtin,
        }
    }

    pub fn set_status(&self, s: String) {
        if let Ok(mut st) = self.status.lock() {
            *st = s;
        }
    }

    pub fn status(&self) -> String {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn selected(&self) -> Selected {
        self.selected.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    fn select(&self, s: Selected) {
        match self.selected.lock() {
            Ok(mut sel) => *sel = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// The built-in voice in `precision` (every weight of it fits f16).
    fn builtin_selected(&self, precision: Precision) -> Selected {
        let model = Model::from_file_with(&self.builtin, precision)
            .unwrap_or_else(|_| Model::from_file(&self.builtin));
        Selected { model: Arc::new(model), name: BUILTIN_NAME.into(), path: String::new() }
    }

    /// The model at `path` (the built-in voice for an empty one) in `precision`.
    fn open(&self, path: &str, precision: Precision) -> Result<Selected, vrnn_core::ModelError> {
        if path.is_empty() {
            Ok(self.builtin_selected(precision))
        } else {
            load(path, precision)
        }
    }

    /// Makes the selection follow the model path and precision saved in the plugin state (a
    /// reopened project): loads it if it is new; falls back to the built-in voice if it is
    /// missing.
    pub fn select_persisted(&self, params: &SynthParams) -> Selected {
        let (wanted, precision) = (params.model_path.get(), params.precision());
        let current = self.selected();
        if wanted == current.path && precision == current.precision() {
            return current;
        }
        let s = self.restore(&wanted, precision);
        self.select(s.clone());
        s
    }

    /// The model a saved path names, or the built-in voice (saying why) when it cannot load.
    fn restore(&self, path: &str, precision: Precision) -> Selected {
        match self.open(path, precision) {
            Ok(s) => {
                self.set_status(String::new());
                s
            }
            Err(e) => {
                self.set_status(format!("{e}; playing the {BUILTIN_NAME}"));
                self.builtin_selected(precision)
            }
        }
    }

    /// Selects a model and, when the plugin is active, sends a ready engine to the audio
    /// thread, which crossfades to it.
    fn switch(&self, selected: Selected, engine_tx: &Sender<Box<Engine>>) {
        self.select(selected.clone());
        let rate = self.meters.sample_rate.load(Ordering::Relaxed) as f64;
        if rate > 0.0 {
            // The audio thread restarts the engine from its own seed.
            match Engine::new(selected.model, selected.name, rate, 0) {
                Ok(engine) => {
                    if engine_tx.try_send(Box::new(engine)).is_err() {
                        self.set_status("still switching to the previous model: try again".into());
                    }
                }
                Err(e) => self.set_status(e.to_string()),
            }
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

fn load(path: &str, precision: Precision) -> Result<Selected, vrnn_core::ModelError> {
    let model = Model::load_with(path, precision)?;
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Selected { model: Arc::new(model), name, path: path.to_string() })
}

/// Runs the background tasks: load, build the engine for the current host rate, send it.
pub fn executor(
    shared: Arc<Shared>,
    params: Arc<SynthParams>,
    engine_tx: Sender<Box<Engine>>,
) -> TaskExecutor<VrnnSynth> {
    Box::new(move |task| {
        let (path, precision) = match task {
            Task::Load(path) => (path.to_string_lossy().into_owned(), params.precision()),
            Task::UseBuiltin => (String::new(), params.precision()),
            Task::SetPrecision(p) => (shared.selected().path, p),
        };
        let selected = match shared.open(&path, precision) {
            Ok(s) => s,
            Err(e) => {
                // The current model keeps playing.
                shared.set_status(e.to_string());
                return;
            }
        };
        shared.set_status(String::new());
        params.model_path.set_quiet(&selected.path);
        params.set_precision(precision);
        shared.switch(selected, &engine_tx);
    })
}

/// Loads the model path the host restored (a preset or project change while running).
pub fn restore_hook(
    shared: Arc<Shared>,
    engine_tx: Sender<Box<Engine>>,
) -> Box<dyn Fn(String) + Send + Sync> {
    Box::new(move |path| {
        let precision = shared.selected().precision();
        let selected = shared.restore(&path, precision);
        shared.switch(selected, &engine_tx);
    })
}

/// A thread that drops the engines the audio thread is done with.
pub fn spawn_dropper() -> Sender<Box<Engine>> {
    let (tx, rx) = crossbeam_channel::bounded::<Box<Engine>>(16);
    let spawned = std::thread::Builder::new().name("vrnn-dropper".into()).spawn(move || {
        // Ends when the plugin (the last sender) is gone.
        for engine in rx {
            drop(engine);
        }
    });
    if let Err(e) = spawned {
        nice_error!("cannot start the dropper thread: {e}");
    }
    tx
}
