//! The built-in voice model, trained by the project's trainer on ../shared/data/voice
//! (the command is in the README), so that the instrument speaks with no model file.

use crate::config::Domain;
use crate::file::{ModelError, ModelFile};

/// The model file's bytes, embedded at build time.
pub const BUILTIN_VOICE: &[u8] = include_bytes!("../models/voice.vrnn");

/// The built-in voice's frame domain (a test checks the embedded file against it): what
/// the plugin's defaults are tuned for.
pub const BUILTIN_DOMAIN: Domain = Domain::Hnm;

/// Name shown for the built-in model.
pub const BUILTIN_NAME: &str = "built-in voice";

pub fn builtin_voice() -> Result<ModelFile, ModelError> {
    ModelFile::from_bytes(BUILTIN_VOICE, BUILTIN_NAME)
}
