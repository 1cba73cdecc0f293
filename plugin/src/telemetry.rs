//! What the audio thread tells the editor, without locks or allocation: wait-free rings for
//! the scope and the latent trajectory, atomics for the rest.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nice_plug::prelude::AtomicF32;

/// Samples of output per scope point (each point is the block's peak).
pub const SCOPE_DECIMATION: usize = 64;

#[derive(Default)]
pub struct Meters {
    /// Smoothed CPU time of one generation step, microseconds.
    pub step_us: AtomicF32,
    /// Real-time budget of one step: one frame's duration, microseconds.
    pub budget_us: AtomicF32,
    /// Frames replaced by silence by the non-finite guard.
    pub nonfinite: AtomicU64,
    /// Host sample rate the audio thread runs at (0 before activation).
    pub sample_rate: AtomicF32,
    /// Latency reported to the host, samples.
    pub latency: AtomicU32,
}

impl Meters {
    pub fn load(v: &AtomicF32) -> f32 {
        v.load(Ordering::Relaxed)
    }
}

/// The audio thread's ends.
pub struct TelemetryTx {
    pub scope: rtrb::Producer<f32>,
    pub latent: rtrb::Producer<f32>,
}

/// The editor's ends.
pub struct TelemetryRx {
    pub scope: rtrb::Consumer<f32>,
    pub latent: rtrb::Consumer<f32>,
}

pub fn channel() -> (TelemetryTx, TelemetryRx) {
    let (scope_tx, scope_rx) = rtrb::RingBuffer::new(8192);
    let (latent_tx, latent_rx) = rtrb::RingBuffer::new(2048);
    (
        TelemetryTx { scope: scope_tx, latent: latent_tx },
        TelemetryRx { scope: scope_rx, latent: latent_rx },
    )
}
