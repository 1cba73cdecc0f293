//! vrnn-core: the Variational Recurrent Neural Network (Chung et al., 2015) as a real-time
//! instrument engine. The model file format, allocation-free single-step inference with
//! SIMD kernels, seeded sampling, and the streaming engine that turns frames into audio at
//! the host's rate.

pub mod builtin;
pub mod config;
pub mod dc;
pub mod domain;
pub mod file;
pub mod generator;
pub mod kernel;
pub mod listen;
pub mod model;
pub mod names;
pub mod nn;
pub mod rng;
mod storage;
pub mod stream;

pub use config::{
    Cell, Domain, Latent, Mlp as MlpSpec, ModelConfig, Normalisation, Output, Provenance,
    SoundMatch,
};
pub use file::{write_atomic, ModelError, ModelFile};
pub use generator::{Generator, PosteriorStep, PosteriorZ, StepNoise};
pub use kernel::{Isa, Precision};
pub use listen::Listener;
pub use model::Model;
pub use rng::Rng;
pub use stream::{Follow, Schedule, Stream, StreamError};
