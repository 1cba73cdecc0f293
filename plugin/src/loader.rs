//! Model loading off the audio thread: read, validate and pack on a background thread, then
//! hand a ready engine to the audio thread over a lock-free channel. Old engines come back
//! over another channel and are dropped on a thread of their own.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use nice_plug::prelude::*;
use vrnn_core::builtin::{builtin_voice, BUILTIN_NAME};
use vrnn_core::{Model, ModelFile};

use crate::engine::Engine;
use crate::params::SynthParams;
use crate::telemetry::Meters;
use crate::VrnnSynth;

/// Work for the background thread.
#[derive(Debug, Clone)]
pub enum Task {
    Load(PathBuf),
    UseBuiltin,
}

/// The model the instrument plays (or will play once active).
#[derive(Clone)]
pub struct Selected {
    pub model: Arc<Model>,
    pub name: String,
    /// Empty for the built-in model.
    pub path: String,
}

/// State shared by the plugin, the background thread and the editor. The locks are taken by
/// those threads only, never by the audio thread, which reads `meters` (atomics).
pub struct Shared {
    pub meters: Meters,
    pub selected: Mutex<Selected>,
    /// The last loading problem, shown in the editor; empty when all is well.
    pub status: Mutex<String>,
    builtin: Arc<Model>,
}

fn builtin_model() -> Arc<Model> {
    // Embedded and tested at build time: failing here is a build defect.
    let file = builtin_voice().expect("the embedded built-in model is valid");
    Arc::new(Model::from_file(&file))
}

impl Shared {
    pub fn new() -> Shared {
        let builtin = builtin_model();
        let selected =
            Selected { model: builtin.clone(), name: BUILTIN_NAME.into(), path: String::new() };
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

    fn builtin_selected(&self) -> Selected {
        Selected { model: self.builtin.clone(), name: BUILTIN_NAME.into(), path: String::new() }
    }

    /// Makes the selection follow the model path saved in the plugin state (a reopened
    /// project): loads it if it is new; falls back to the built-in voice if it is missing.
    pub fn select_persisted(&self, params: &SynthParams) -> Selected {
        let wanted = params.model_path.get();
        let current = self.selected();
        if wanted == current.path {
            return current;
        }
        let s = self.restore(&wanted);
        self.select(s.clone());
        s
    }

    /// The model a saved path names, or the built-in voice (saying why) when it cannot load.
    fn restore(&self, path: &str) -> Selected {
        if path.is_empty() {
            return self.builtin_selected();
        }
        match load(path) {
            Ok(s) => {
                self.set_status(String::new());
                s
            }
            Err(e) => {
                self.set_status(format!("{e}; playing the {BUILTIN_NAME}"));
                self.builtin_selected()
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

fn load(path: &str) -> Result<Selected, vrnn_core::ModelError> {
    let file = ModelFile::load(path)?;
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Selected { model: Arc::new(Model::from_file(&file)), name, path: path.to_string() })
}

/// Runs the background tasks: load, build the engine for the current host rate, send it.
pub fn executor(
    shared: Arc<Shared>,
    params: Arc<SynthParams>,
    engine_tx: Sender<Box<Engine>>,
) -> TaskExecutor<VrnnSynth> {
    Box::new(move |task| {
        let selected = match task {
            Task::Load(path) => match load(&path.to_string_lossy()) {
                Ok(s) => s,
                Err(e) => {
                    // The current model keeps playing.
                    shared.set_status(e.to_string());
                    return;
                }
            },
            Task::UseBuiltin => shared.builtin_selected(),
        };
        shared.set_status(String::new());
        params.model_path.set_quiet(&selected.path);
        shared.switch(selected, &engine_tx);
    })
}

/// Loads the model path the host restored (a preset or project change while running).
pub fn restore_hook(
    shared: Arc<Shared>,
    engine_tx: Sender<Box<Engine>>,
) -> Box<dyn Fn(String) + Send + Sync> {
    Box::new(move |path| {
        let selected = shared.restore(&path);
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
