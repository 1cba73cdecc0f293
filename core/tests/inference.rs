//! The packed, SIMD generator against the plain scalar reference, on every variant, cell
//! and instruction set this CPU has; determinism; the non-finite guard; the posterior step.

mod common;

use std::sync::Arc;

use common::reference::Reference;
use common::{all_small_configs, random_model, small_config};
use vrnn_core::kernel::{activate, all_finite, Activation};
use vrnn_core::nn::{pad_vec, Recurrent};
use vrnn_core::{
    Cell, Generator, Isa, Latent, Model, Output, PosteriorZ, Precision, Rng, StepNoise,
};

fn close(a: f32, b: f64, tol: f64) -> bool {
    (a as f64 - b).abs() <= tol * (1.0 + b.abs())
}

fn assert_close(what: &str, step: usize, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what} length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, tol), "step {step}: {what}[{i}] = {g}, reference {w}");
    }
}

#[test]
fn generator_matches_scalar_reference_on_every_variant_and_isa() {
    for (n, config) in all_small_configs().into_iter().enumerate() {
        let file = random_model(&config, 100 + n as u64);
        let model = Arc::new(Model::from_file(&file));
        for isa in Isa::available() {
            let mut generator = Generator::with_isa(model.clone(), 0, isa);
            let mut reference = Reference::new(&file);
            let mut rng = Rng::new(7);
            let mut noise = StepNoise {
                eps_z: vec![0.0; config.z_size()],
                eps_x: vec![0.0; config.frame_size],
                u: 0.0,
            };
            for step in 0..20 {
                rng.fill_gaussian(&mut noise.eps_z);
                rng.fill_gaussian(&mut noise.eps_x);
                noise.u = rng.uniform();
                let (t, s) = (0.8, 0.5);
                let want = reference.step(&noise, t as f64, s as f64);
                generator.step_with_noise(&noise, t, s);
                let what = format!("{} {:?} {:?}", config.variant_name(), config.cell, isa);
                assert_close(
                    &format!("{what} prior mu"),
                    step,
                    generator.prior_mu(),
                    &want.mu0,
                    1e-5,
                );
                assert_close(
                    &format!("{what} prior sigma"),
                    step,
                    generator.prior_sigma(),
                    &want.sigma0,
                    1e-5,
                );
                assert_close(
                    &format!("{what} output mu"),
                    step,
                    generator.output_mu(),
                    &want.mu_x,
                    1e-5,
                );
                assert_close(
                    &format!("{what} output sigma"),
                    step,
                    generator.output_sigma(),
                    &want.sigma_x,
                    1e-5,
                );
                assert_close(&format!("{what} frame"), step, generator.frame(), &want.x, 1e-5);
                assert_close(&format!("{what} h"), step, generator.hidden(), &reference.h, 1e-5);
                if config.cell == Cell::Lstm {
                    assert_close(&format!("{what} c"), step, generator.cell(), &reference.c, 1e-5);
                }
            }
        }
    }
}

#[test]
fn same_seed_gives_bit_identical_frames_and_other_seeds_differ() {
    let config = small_config(Cell::Lstm, Latent::Conditional, Output::Gmm { components: 4 });
    let model = Arc::new(Model::from_file(&random_model(&config, 1)));
    let run = |seed| {
        let mut g = Generator::new(model.clone(), seed);
        (0..50).flat_map(|_| g.step(1.0, 1.0).to_vec()).collect::<Vec<f32>>()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    assert_ne!(a, run(43));
    let mut g = Generator::new(model.clone(), 42);
    g.step(1.0, 1.0);
    g.reset(42);
    let again: Vec<f32> = (0..50).flat_map(|_| g.step(1.0, 1.0).to_vec()).collect();
    assert_eq!(a, again, "reset replays the seed");
}

#[test]
fn zero_temperature_and_noise_make_the_voice_deterministic_in_the_seed() {
    let config = small_config(Cell::Gru, Latent::Conditional, Output::Gauss);
    let model = Arc::new(Model::from_file(&random_model(&config, 2)));
    let run = |seed| {
        let mut g = Generator::new(model.clone(), seed);
        (0..10).flat_map(|_| g.step(0.0, 0.0).to_vec()).collect::<Vec<f32>>()
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn non_finite_step_is_silenced_counted_and_resets_the_state() {
    let config = small_config(Cell::Lstm, Latent::Conditional, Output::Gauss);
    let file = random_model(&config, 3);
    let mut tensors = file.tensors().clone();
    // Finite weights whose product overflows: the output mean becomes infinite.
    tensors.insert("decoder.mu.bias".into(), vec![3e38; config.frame_size]);
    tensors.get_mut("decoder.1.bias").unwrap().fill(1.0);
    tensors
        .insert("decoder.mu.weight".into(), vec![3e38; config.frame_size * config.decoder.width]);
    let file = vrnn_core::ModelFile::new(config, tensors, "overflow").unwrap();
    let mut g = Generator::new(Arc::new(Model::from_file(&file)), 0);
    for n in 1..=3 {
        let frame = g.step(1.0, 1.0).to_vec();
        assert!(frame.iter().all(|v| *v == 0.0), "silence instead of garbage");
        assert_eq!(g.nonfinite_frames(), n);
        assert!(g.hidden().iter().all(|v| *v == 0.0), "state reset");
    }
}

/// The cells' element-wise update runs compiled for each instruction set: the same
/// operations in the same order, so the same bits as the portable build, however far
/// the gates saturate.
#[test]
fn cell_updates_give_the_same_bits_on_every_isa() {
    let mut rng = Rng::new(11);
    let mut random = |n: usize, scale: f32| {
        let mut v = vec![0.0f32; n];
        rng.fill_gaussian(&mut v);
        v.iter_mut().for_each(|x| *x *= scale);
        v
    };
    for cell in [Cell::Lstm, Cell::Gru] {
        let (input, hidden) = (24, 37);
        let g = cell.gates() * hidden;
        let (w_ih, w_hh) = (random(g * input, 1.5), random(g * hidden, 1.5));
        let rec =
            Recurrent::new(cell, input, hidden, &w_ih, &w_hh, &random(g, 3.0), &random(g, 3.0));
        let mut x = pad_vec(input);
        x[..input].copy_from_slice(&random(input, 4.0));
        let mut start = rec.state();
        for _ in 0..3 {
            rec.step(Isa::Portable, &x, &mut start);
        }
        let [(rows, _), (hidden_rows, _)] = rec.gate_rows();
        rec.input_mut(&mut start).copy_from_slice(&x[..input]);
        rec.load_hidden(&mut start);
        rec.input_gate_rows(Isa::Portable, 0..rows, &mut start);
        rec.hidden_gate_rows(Isa::Portable, 0..hidden_rows, &mut start);
        let mut want = start.clone();
        rec.update(Isa::Portable, &mut want);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for isa in Isa::available() {
            let mut got = start.clone();
            rec.update(isa, &mut got);
            assert_eq!(bits(&got.h), bits(&want.h), "{cell:?} {isa:?} h");
            assert_eq!(bits(&got.c), bits(&want.c), "{cell:?} {isa:?} c");
        }
    }
}

#[test]
fn finiteness_check_finds_every_non_finite_value_on_every_isa() {
    let edges = [0.0, -0.0, 1e-45, f32::MIN_POSITIVE, f32::MAX, f32::MIN, 1.0];
    for isa in Isa::available() {
        for len in [1, 15, 16, 17, 100] {
            let finite: Vec<f32> = (0..len).map(|i| edges[i % edges.len()]).collect();
            assert!(all_finite(isa, &finite), "{isa:?} length {len}");
            for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, len / 2, len - 1] {
                    let mut v = finite.clone();
                    v[at] = bad;
                    assert!(!all_finite(isa, &v), "{isa:?} {bad} at {at} of {len}");
                }
            }
        }
        assert!(all_finite(isa, &[]));
    }
}

#[test]
fn posterior_step_scores_frames_with_closed_form_kl_and_nll() {
    for config in all_small_configs() {
        let file = random_model(&config, 4);
        let model = Arc::new(Model::from_file(&file));
        let mut source = Generator::new(model.clone(), 9);
        let frames: Vec<Vec<f32>> = (0..10).map(|_| source.step(1.0, 1.0).to_vec()).collect();
        let mut a = Generator::new(model.clone(), 1);
        let mut b = Generator::new(model.clone(), 2);
        for frame in &frames {
            let (mu, kl, nll) = {
                let p = a.step_posterior(frame, PosteriorZ::Mean);
                (p.mu_z.to_vec(), p.kl, p.nll)
            };
            let q = b.step_posterior(frame, PosteriorZ::Mean);
            assert_eq!(
                (mu.as_slice(), kl, nll),
                (q.mu_z, q.kl, q.nll),
                "mean mode is deterministic"
            );
            assert!(nll.is_finite(), "{}", config.variant_name());
            if config.has_latent() {
                assert!(kl >= -1e-9, "KL is never negative: {kl}");
                assert_eq!(mu.len(), config.latent_size);
            } else {
                assert_eq!(kl, 0.0);
            }
        }
    }
}

#[test]
fn closed_forms_match_direct_computation() {
    use vrnn_core::generator::{gaussian_kl, gaussian_nll, log_sum_exp_f64};
    // KL(N(1, 2^2) || N(0, 1)) = ln(1/2) + (4 + 1)/2 - 1/2 = 2 - ln 2.
    let kl = gaussian_kl(&[1.0], &[2.0], &[0.0], &[1.0]);
    assert!((kl - (2.0 - 2f64.ln())).abs() < 1e-9, "{kl}");
    // -log N(0.5; 0, 1) = 0.5 ln(2 pi) + 0.125.
    let nll = gaussian_nll(&[0.5], &[0.0], &[1.0]);
    assert!((nll - (0.5 * (2.0 * std::f64::consts::PI).ln() + 0.125)).abs() < 1e-9);
    let lse = log_sum_exp_f64(&[1000.0, 1000.0]);
    assert!((lse - (1000.0 + 2f64.ln())).abs() < 1e-9, "stable for large values");
}

#[test]
fn activations_are_accurate_to_1e6_relative_on_every_isa() {
    let xs: Vec<f32> = (-400_000..=400_000).map(|i| i as f32 * 1e-4).collect();
    for isa in Isa::available() {
        for (act, f) in [
            (Activation::Sigmoid, (|x: f64| 1.0 / (1.0 + (-x).exp())) as fn(f64) -> f64),
            (Activation::Tanh, f64::tanh),
            (Activation::Softplus, |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p()),
        ] {
            let mut ys = xs.clone();
            activate(isa, act, &mut ys);
            for (x, y) in xs.iter().zip(&ys) {
                let want = f(*x as f64);
                let rel = (*y as f64 - want).abs() / want.abs().max(1e-30);
                assert!(rel < 1e-6, "{isa:?} {act:?}({x}) = {y}, want {want} (rel {rel:e})");
            }
        }
        let mut ys = vec![-1.0, 0.0, 2.5];
        activate(isa, Activation::Relu, &mut ys);
        assert_eq!(ys, [0.0, 0.0, 2.5]);
    }
}

#[test]
fn exp_is_accurate_over_its_range() {
    for i in -8700..=8800 {
        let x = i as f32 * 0.01;
        let want = (x as f64).exp();
        let got = vrnn_core::kernel::exp(x) as f64;
        assert!((got - want).abs() / want < 1e-6, "exp({x}) = {got}, want {want}");
    }
}

#[test]
fn ln_is_accurate_for_every_positive_normal_float() {
    // Every 97th float from the smallest normal to the largest finite one, and around 1.
    let near_one = (-2000..=2000).map(|i| 1.0 + i as f32 * 1e-6);
    let spread = (f32::MIN_POSITIVE.to_bits()..f32::MAX.to_bits()).step_by(97).map(f32::from_bits);
    for x in spread.chain(near_one) {
        let want = (x as f64).ln();
        let got = vrnn_core::kernel::ln(x) as f64;
        // Relative to ln x away from 1; near 1, where ln x -> 0, relative to x - 1.
        let scale = want.abs().max((x as f64 - 1.0).abs()).max(1e-30);
        assert!((got - want).abs() / scale < 1e-6, "ln({x}) = {got}, want {want}");
    }
}

#[test]
fn a_step_cut_into_pieces_equals_a_whole_step() {
    // int8 products are cut on their sixteen-row panels; the others on groups of four.
    let precisions = [Precision::F32, Precision::Int8];
    for (n, (config, precision)) in
        all_small_configs().into_iter().flat_map(|c| precisions.map(|p| (c.clone(), p))).enumerate()
    {
        let file = random_model(&config, 300 + n as u64);
        let model = Arc::new(Model::from_file_with(&file, precision).unwrap());
        let mut whole = Generator::new(model.clone(), 9);
        let mut pieces = Generator::new(model, 9);
        let mut cuts = Rng::new(n as u64);
        let cost = pieces.step_cost();
        assert!(cost > 0);
        for _ in 0..30 {
            let want = whole.step(0.9, 0.4).to_vec();
            pieces.begin_step(0.9, 0.4);
            let mut target = 0;
            let mut calls = 0;
            while !pieces.work(target) {
                assert!(pieces.stepping());
                target += (cuts.uniform() * cost as f32 / 8.0) as usize;
                calls += 1;
            }
            assert!(
                calls > 1 && !pieces.stepping(),
                "{} {precision}: not cut",
                config.variant_name()
            );
            let name = config.variant_name();
            assert_eq!(pieces.frame(), &want[..], "{name} {:?} {precision}", config.cell);
        }
    }
}

#[test]
fn gmm_nll_equals_a_direct_sum_over_components() {
    use vrnn_core::names::{DECODER, LOGITS, MU};
    let config = small_config(Cell::Gru, Latent::None, Output::Gmm { components: 3 });
    let file = random_model(&config, 21);
    let mut generator = Generator::new(Arc::new(Model::from_file(&file)), 0);
    let reference = Reference::new(&file);
    let (f, k) = (config.frame_size, 3);
    let n = &config.normalisation;
    let mut rng = Rng::new(4);
    let x: Vec<f64> = (0..f).map(|_| rng.gaussian() as f64 * 0.5).collect();
    let raw: Vec<f32> = x.iter().map(|v| *v as f32 * n.std + n.mean).collect();
    // From a fresh (zero) state the decoder sees h = 0: mixture of K diagonal Gaussians.
    let hd = reference.mlp(DECODER, config.decoder.layers, &vec![0.0; config.hidden]);
    let logits = reference.head(DECODER, LOGITS, &hd);
    let (mu, sigma) = (reference.head(DECODER, MU, &hd), reference.sigma(DECODER, &hd));
    let total: f64 = logits.iter().map(|l| l.exp()).sum();
    let density: f64 = (0..k)
        .map(|c| {
            let pi = logits[c].exp() / total;
            pi * (0..f)
                .map(|i| {
                    let (m, s) = (mu[c * f + i], sigma[c * f + i]);
                    (-(x[i] - m).powi(2) / (2.0 * s * s)).exp()
                        / (s * (2.0 * std::f64::consts::PI).sqrt())
                })
                .product::<f64>()
        })
        .sum();
    let got = generator.step_posterior(&raw, PosteriorZ::Mean).nll;
    let want = -density.ln();
    assert!((got - want).abs() < 1e-4 * want.abs().max(1.0), "nll {got}, direct sum {want}");
}
