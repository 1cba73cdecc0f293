//! A generation step that follows an input frame through the encoder (live resynthesis):
//! exactly free generation at follow 0, the posterior's decoding at follow 1, the same
//! however it is cut into pieces, and closer to its input the more it follows.

mod common;

use std::sync::Arc;

use common::{all_small_configs, hnm_config, random_model, small_config};
use vrnn_core::{Cell, Generator, Latent, Model, Output, PosteriorZ, Rng};

fn input_frames(dim: usize, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| (0..dim).map(|_| rng.gaussian()).collect()).collect()
}

#[test]
fn follow_zero_is_free_generation_bit_for_bit() {
    for config in all_small_configs().into_iter().chain([hnm_config()]) {
        let model = Arc::new(Model::from_file(&random_model(&config, 3)));
        let (mut free, mut following) =
            (Generator::new(model.clone(), 9), Generator::new(model, 9));
        for (t, x) in input_frames(config.frame_dim(), 40, 4).iter().enumerate() {
            let a = free.step(1.0, 1.0).to_vec();
            following.begin_follow_step(x, 0.0, 1.0, 1.0);
            following.finish_step();
            assert_eq!(a, following.frame(), "{config:?} step {t}");
        }
    }
}

#[test]
fn full_follow_without_sampling_decodes_the_posterior_mean() {
    for latent in [Latent::Conditional, Latent::Independent] {
        let config = small_config(Cell::Lstm, latent, Output::Gauss);
        let model = Arc::new(Model::from_file(&random_model(&config, 5)));
        let x = &input_frames(config.frame_dim(), 1, 6)[0];
        let mut posterior = Generator::new(model.clone(), 1);
        let mu_z = posterior.step_posterior(x, PosteriorZ::Mean).mu_z.to_vec();
        let mut following = Generator::new(model, 1);
        following.begin_follow_step(x, 1.0, 0.0, 0.0);
        following.finish_step();
        for (a, b) in posterior.output_mu().iter().zip(following.output_mu()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{latent:?}: {a} vs {b}");
        }
        assert!(mu_z.iter().any(|v| v.abs() > 1e-3), "the posterior mean is not trivial");
    }
}

#[test]
fn a_following_step_cut_into_pieces_equals_a_whole_one_and_costs_the_encoder() {
    for config in all_small_configs() {
        let model = Arc::new(Model::from_file(&random_model(&config, 7)));
        let (mut whole, mut cut) = (Generator::new(model.clone(), 2), Generator::new(model, 2));
        let extra = whole.follow_step_cost() - whole.step_cost();
        match config.latent {
            Latent::None => assert_eq!(extra, 0, "nothing to follow without a latent"),
            _ => assert!(extra > 0, "{config:?}: phi_x and the encoder cost bytes"),
        }
        let piece = whole.follow_step_cost() / 7;
        for x in input_frames(config.frame_dim(), 30, 8) {
            whole.begin_follow_step(&x, 0.6, 1.0, 1.0);
            whole.finish_step();
            cut.begin_follow_step(&x, 0.6, 1.0, 1.0);
            let mut target = piece;
            while !cut.work(target) {
                target += piece;
            }
            assert_eq!(whole.frame(), cut.frame(), "{config:?}");
        }
    }
}

#[test]
fn the_built_in_voice_follows_another_take_of_itself_the_closer_the_more_it_follows() {
    let model = Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()));
    let dim = model.config.frame_dim();
    let mut source = Generator::new(model.clone(), 11);
    let input: Vec<Vec<f32>> = (0..400).map(|_| source.step(1.0, 1.0).to_vec()).collect();
    let distance = |follow: f32| {
        let mut g = Generator::new(model.clone(), 12);
        let mut sum = 0.0f64;
        for x in &input {
            g.begin_follow_step(x, follow, 1.0, 1.0);
            g.finish_step();
            for ((a, b), std) in g.frame().iter().zip(x).zip(&model.frame_std) {
                sum += ((a - b) / std).powi(2) as f64;
            }
        }
        sum / (input.len() * dim) as f64
    };
    let (free, half, full) = (distance(0.0), distance(0.5), distance(1.0));
    assert!(full < 0.5 * free, "follow 1: {full}, free: {free}");
    assert!(full < half && half < free, "0: {free}, 0.5: {half}, 1: {full}");
}
