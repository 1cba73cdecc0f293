//! `trainer info`: what a model is, where it came from, and what it costs in real time on
//! this machine.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use vrnn_core::{Generator, Model, ModelConfig};

#[derive(Debug, Serialize)]
pub struct Info {
    pub config: ModelConfig,
    pub variant: String,
    pub parameters: usize,
    pub weight_bytes_per_step: usize,
    /// The format the weights were rounded to: f32, f16, bf16 or int8.
    pub precision: String,
    /// The format the kernels read them in for the timing: the same, or f32 where that
    /// played faster here.
    pub storage: String,
    pub kernel: String,
    pub step_us_median: f64,
    pub step_us_p99: f64,
    /// Frame duration / median step time: how many voices one core could run.
    pub realtime_factor: f64,
}

/// Times `steps` generation steps after a warm-up.
pub fn measure(model: Arc<Model>, steps: usize) -> Info {
    let mut g = Generator::new(model.clone(), 0);
    for _ in 0..steps / 10 + 1 {
        g.step(1.0, 1.0);
    }
    let mut us: Vec<f64> = (0..steps.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(g.step(1.0, 1.0));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let median = us[us.len() / 2];
    let p99 = us[(us.len() * 99 / 100).min(us.len() - 1)];
    let c = &model.config;
    Info {
        variant: c.variant_name().into(),
        parameters: c.parameter_count(),
        weight_bytes_per_step: model.step_bytes(),
        precision: model.precision.to_string(),
        storage: model.storage.to_string(),
        kernel: format!("{:?}", g.isa()),
        step_us_median: median,
        step_us_p99: p99,
        realtime_factor: c.frame_seconds() * 1e6 / median,
        config: c.clone(),
    }
}

impl std::fmt::Display for Info {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        let p = &c.provenance;
        writeln!(
            f,
            "{} ({:?} cell, hidden {}, latent {}, {} output)",
            self.variant,
            c.cell,
            c.hidden,
            c.z_size(),
            match c.output {
                vrnn_core::Output::Gauss => "Gaussian".to_string(),
                vrnn_core::Output::Gmm { components } => format!("{components}-component GMM"),
            }
        )?;
        writeln!(f, "MLPs (layers x width): phi_x {}x{}, phi_z {}x{}, prior {}x{}, encoder {}x{}, decoder {}x{}",
            c.phi_x.layers, c.phi_x.width, c.phi_z.layers, c.phi_z.width, c.prior.layers, c.prior.width,
            c.encoder.layers, c.encoder.width, c.decoder.layers, c.decoder.width)?;
        writeln!(
            f,
            "{} domain, frames of {} samples at {} Hz ({:.1} ms); normalisation mean {:.3e}, std {:.3e}{}",
            c.domain,
            c.frame_size,
            c.sample_rate,
            c.frame_seconds() * 1e3,
            c.normalisation.mean,
            c.normalisation.std,
            match (c.normalisation.centre.is_empty(), c.normalisation.scale.is_empty()) {
                (false, _) => " and a centre and a scale per parameter",
                (true, false) => " x one scale per coefficient",
                (true, true) => "",
            }
        )?;
        writeln!(
            f,
            "{} parameters; {:.2} MB of weights read per step{}",
            self.parameters,
            self.weight_bytes_per_step as f64 / 1e6,
            if self.storage == self.precision {
                format!(" as {}", self.precision)
            } else {
                format!(": {} values held as {}, faster on this CPU", self.precision, self.storage)
            }
        )?;
        writeln!(
            f,
            "trained on: {} ({} steps, {}, trainer {}{})",
            if p.data.is_empty() { "-".into() } else { p.data.join(", ") },
            p.steps,
            if p.date.is_empty() { "-" } else { &p.date },
            if p.trainer_version.is_empty() { "-" } else { &p.trainer_version },
            p.validation_nelbo
                .map_or(String::new(), |v| format!(", validation -ELBO {v:.2} nats/frame"))
        )?;
        if let Some(m) = &p.sound {
            writeln!(
                f,
                "sound match vs {}: {} (spectrum {:.1} dB apart, voiced {:.2}, clicks {:.2})",
                m.references, m.verdict, m.ltas_db, m.voiced_fraction, m.click_ratio
            )?;
        }
        write!(f, "real-time cost here ({} kernel): median {:.1} us, p99 {:.1} us per step; real-time factor {:.1}x",
            self.kernel, self.step_us_median, self.step_us_p99, self.realtime_factor)
    }
}
