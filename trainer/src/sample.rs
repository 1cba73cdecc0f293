//! `trainer sample`: renders a model through vrnn-core's Stream, the engine the plugin
//! plays, to a 32-bit float WAV. The same settings give a byte-identical file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use vrnn_core::{Model, Stream};

pub struct SampleOptions {
    pub seconds: f64,
    pub temperature: f32,
    pub noise: f32,
    pub seed: u64,
    pub sample_rate: u32,
}

/// Renders and returns the samples.
pub fn render(model: Arc<Model>, o: &SampleOptions) -> Result<Vec<f32>> {
    let mut stream = Stream::new(model, o.sample_rate as f64, o.seed)?;
    stream.set_temperature(o.temperature);
    stream.set_noise(o.noise);
    let mut out = vec![0.0; (o.seconds * o.sample_rate as f64).round() as usize];
    stream.process(&mut out);
    Ok(out)
}

/// Writes mono 32-bit float, atomically (temporary file, then rename).
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec)?;
        for s in samples {
            w.write_sample(*s)?;
        }
        w.finalize()?;
    }
    vrnn_core::write_atomic(path, &bytes.into_inner())
        .with_context(|| format!("{}: cannot write", path.display()))
}
