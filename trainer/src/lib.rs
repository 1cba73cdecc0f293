//! vrnn-trainer: fits VRNN models on recordings with candle, and evaluates, samples and
//! inspects them with vrnn-core.

pub mod analyze;
pub mod audio;
pub mod checkpoint;
pub mod compare;
pub mod dataset;
pub mod device;
pub mod early_stop;
pub mod eval;
pub mod fit;
pub mod fused;
pub mod info;
pub mod memory;
pub mod net;
pub mod optim;
pub mod plot;
pub mod presets;
pub mod report;
pub mod resynth;
pub mod sample;
pub mod sound;
pub mod threads;
