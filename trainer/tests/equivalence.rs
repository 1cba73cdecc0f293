//! The candle model and vrnn-core compute the same function: with the same weights, the
//! same frames and the same posterior noise, every prior and posterior mean and sigma, every
//! state, and every frame's KL and NLL (which hold the output's mean and sigma) agree to
//! 1e-4 over 100 steps; and generating from the same noise, they make the same frames.

mod common;

use std::sync::Arc;

use candle_core::{Device, IndexOp, Tensor};
use vrnn_core::config::{Latent, Output};
use vrnn_core::{domain, Cell, Domain, Generator, MlpSpec, Model, ModelConfig, PosteriorZ};
use vrnn_trainer::net::Net;

const STEPS: usize = 100;

fn config(cell: Cell, latent: Latent, output: Output) -> ModelConfig {
    ModelConfig {
        normalisation: vrnn_core::Normalisation::global(0.0, 0.05),
        ..ModelConfig::uniform(cell, 32, latent, 8, output, MlpSpec::new(2, 24))
    }
}

/// The same in the MDCT domain, with a scale per coefficient.
fn mdct_config(cell: Cell, latent: Latent, output: Output) -> ModelConfig {
    let mut c = config(cell, latent, output);
    c.domain = Domain::Mdct;
    c.normalisation.scale = (0..c.frame_size).map(|i| 2.0 / (1.0 + i as f32 * 0.05)).collect();
    c
}

/// Every variant, and the MDCT domain for the two with a latent and a Gaussian output.
fn configs(cell: Cell, variants: &[(Latent, Output)]) -> Vec<ModelConfig> {
    let mut out: Vec<ModelConfig> = variants.iter().map(|(l, o)| config(cell, *l, *o)).collect();
    out.push(mdct_config(cell, Latent::Conditional, Output::Gauss));
    out.push(mdct_config(cell, Latent::Conditional, Output::Gmm { components: 3 }));
    out.push(hnm_config(cell));
    out
}

/// The hnm domain: 65 parameters a frame, each with its own centre and scale.
fn hnm_config(cell: Cell) -> ModelConfig {
    let mut c = config(cell, Latent::Conditional, Output::Gauss);
    c.domain = Domain::Hnm;
    let dim = c.frame_dim();
    c.normalisation = vrnn_core::Normalisation {
        mean: 0.0,
        std: 1.0,
        scale: (0..dim).map(|i| 0.3 + i as f32 * 0.01).collect(),
        centre: (0..dim).map(|i| -5.0 + i as f32 * 0.05).collect(),
    };
    c
}

fn row(t: &Tensor, i: usize) -> Vec<f32> {
    t.i(i).unwrap().to_vec1::<f32>().unwrap()
}

fn check(what: &str, step: usize, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "step {step}: {what}[{k}] core {g} candle {w}"
        );
    }
}

#[test]
fn candle_and_core_agree_over_100_steps() {
    let audio = vrnn_trainer::audio::load_mono(&common::arctic(), 16_000, 0.0).unwrap();
    for cell in [Cell::Lstm, Cell::Gru] {
        for cfg in configs(
            cell,
            &[
                (Latent::Conditional, Output::Gauss),
                (Latent::Conditional, Output::Gmm { components: 3 }),
                (Latent::Independent, Output::Gauss),
                (Latent::None, Output::Gmm { components: 2 }),
            ],
        ) {
            let f = cfg.frame_dim();
            // The frames in the model's domain, unnormalised, as eval gives them.
            let samples = STEPS * cfg.frame_size;
            let frames = domain::codec(&cfg).analyse(&audio[4000..4000 + samples]);
            let raw = &frames[..STEPS * f];
            let net = Net::init(&cfg, 9, &Device::Cpu).unwrap();
            let file = net.to_file(&cfg).unwrap();
            let n = &cfg.normalisation;
            let norm: Vec<f32> = raw
                .iter()
                .enumerate()
                .map(|(i, v)| (v - n.mean_at(i % f)) / n.std_at(i % f))
                .collect();
            let x = Tensor::from_vec(norm, (1, STEPS, f), &Device::Cpu).unwrap();
            let z = cfg.z_size().max(1);
            let mut noise = vec![0.0f32; STEPS * z];
            vrnn_core::Rng::new(5).fill_gaussian(&mut noise);
            let eps = Tensor::from_slice(&noise, (STEPS, 1, z), &Device::Cpu).unwrap();
            let (losses, trace) = net.forward(&x, &eps).unwrap();
            let (kl, nll) = (row(&losses.kl, 0), row(&losses.nll, 0));
            let mut g = Generator::new(Arc::new(Model::from_file(&file)), 0);
            let name = format!("{} {cell:?} {}", cfg.variant_name(), cfg.domain);
            for (t, frame) in raw.chunks_exact(f).enumerate() {
                check(&format!("{name} h_(t-1)"), t, g.hidden(), &row(&trace.h_prev, t));
                let (mu_z, sigma_z, p_kl, p_nll) = {
                    let p = g.step_posterior(frame, PosteriorZ::Noise(&noise[t * z..(t + 1) * z]));
                    (p.mu_z.to_vec(), p.sigma_z.to_vec(), p.kl, p.nll)
                };
                if let (Some(m), Some(s)) = (&trace.mu_z, &trace.sigma_z) {
                    check(&format!("{name} posterior mu"), t, &mu_z, &row(m, t));
                    check(&format!("{name} posterior sigma"), t, &sigma_z, &row(s, t));
                }
                if let (Some(m), Some(s)) = (&trace.mu0, &trace.sigma0().unwrap()) {
                    check(&format!("{name} prior mu"), t, g.prior_mu(), &row(m, t));
                    check(&format!("{name} prior sigma"), t, g.prior_sigma(), &row(s, t));
                }
                check(&format!("{name} KL"), t, &[p_kl as f32], &[kl[t]]);
                check(&format!("{name} NLL"), t, &[p_nll as f32], &[nll[t]]);
            }
        }
    }
}

#[test]
fn candle_and_core_generate_the_same_frames() {
    for cell in [Cell::Lstm, Cell::Gru] {
        for cfg in configs(
            cell,
            &[
                (Latent::Conditional, Output::Gauss),
                (Latent::Conditional, Output::Gmm { components: 3 }),
                (Latent::Independent, Output::Gauss),
                (Latent::None, Output::Gauss),
            ],
        ) {
            let net = Net::init(&cfg, 4, &Device::Cpu).unwrap();
            let mut generator =
                Generator::new(Arc::new(Model::from_file(&net.to_file(&cfg).unwrap())), 0);
            let mut voice = net.voice(&Device::Cpu).unwrap();
            let mut rng = vrnn_core::Rng::new(8);
            let mut noise = vrnn_core::StepNoise {
                eps_z: vec![0.0; cfg.z_size()],
                eps_x: vec![0.0; cfg.frame_dim()],
                u: 0.0,
            };
            for step in 0..50 {
                rng.fill_gaussian(&mut noise.eps_z);
                rng.fill_gaussian(&mut noise.eps_x);
                noise.u = rng.uniform();
                let eps_z =
                    Tensor::from_slice(&noise.eps_z, (1, cfg.z_size()), &Device::Cpu).unwrap();
                let eps_x =
                    Tensor::from_slice(&noise.eps_x, (1, cfg.frame_dim()), &Device::Cpu).unwrap();
                let x = net.generate_step(&mut voice, &eps_z, &eps_x, noise.u, 0.8, 0.5).unwrap();
                let n = &cfg.normalisation;
                let want: Vec<f32> = row(&x, 0)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v * n.std_at(i) + n.mean_at(i))
                    .collect();
                let got = generator.step_with_noise(&noise, 0.8, 0.5);
                let name = format!("{} {cell:?} {} frame", cfg.variant_name(), cfg.domain);
                check(&name, step, got, &want);
            }
        }
    }
}
