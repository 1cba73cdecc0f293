//! A generation step that follows an input frame through the encoder (live resynthesis):
//! exactly free generation at follow 0, the posterior reconstruction at follow 1, the same
//! however it is cut into pieces, and closer to its input the more it follows; and a Stream
//! that follows a live input (`Listener`): block-size invariant, finite whatever comes in,
//! deaf to a DC offset, an onset heard after the latency it reports.

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
fn full_follow_without_sampling_is_the_posterior_reconstruction() {
    for latent in [Latent::Conditional, Latent::Independent] {
        let config = small_config(Cell::Lstm, latent, Output::Gauss);
        let model = Arc::new(Model::from_file(&random_model(&config, 5)));
        let (mut posterior, mut following) =
            (Generator::new(model.clone(), 1), Generator::new(model, 1));
        for (t, x) in input_frames(config.frame_dim(), 20, 6).iter().enumerate() {
            let mu_z = posterior.step_posterior(x, PosteriorZ::Mean).mu_z.to_vec();
            following.begin_follow_step(x, 1.0, 0.0, 0.0);
            following.finish_step();
            for (a, b) in posterior.output_mu().iter().zip(following.output_mu()) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{latent:?} step {t}: {a} vs {b}");
            }
            assert!(mu_z.iter().any(|v| v.abs() > 1e-3), "the posterior mean is not trivial");
        }
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

mod live {
    use super::*;
    use vrnn_core::{Follow, Listener, Stream};

    const RATE: f64 = 48_000.0;

    fn builtin() -> Arc<Model> {
        Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()))
    }

    /// A vowel-like buzz at `f0` with 4 Hz syllables, at the host rate.
    fn sung(seconds: f64, f0: f64) -> Vec<f32> {
        (0..(seconds * RATE) as usize)
            .map(|i| {
                let t = i as f64 / RATE;
                let tone: f64 = (1..30)
                    .map(|k| (std::f64::consts::TAU * f0 * k as f64 * t).sin() / k as f64)
                    .sum();
                (0.15 * tone * (std::f64::consts::TAU * 2.0 * t).sin().abs()) as f32
            })
            .collect()
    }

    /// Plays `input` through a stream following it by `amount`, in blocks of `sizes`
    /// (cycled), pushing each block's input before its output, as a plugin does.
    fn follow(
        model: &Arc<Model>,
        input: &[f32],
        amount: f32,
        sizes: &[usize],
        gate_db: f32,
    ) -> Vec<f32> {
        let mut stream = Stream::new(model.clone(), RATE, 5).unwrap();
        let mut listener = Listener::new(&model.config, RATE).unwrap();
        listener.set_gate_db(gate_db);
        let mut out = vec![0.0; input.len()];
        let (mut done, mut k) = (0, 0);
        while done < input.len() {
            let n = sizes[k % sizes.len()].min(input.len() - done);
            let at = listener.pushed();
            listener.push(&input[done..done + n]);
            let f = Follow { input: &listener, amount, at };
            stream.process_following(&mut out[done..done + n], Some(f));
            done += n;
            k += 1;
        }
        out
    }

    #[test]
    fn follow_zero_plays_the_free_voice_and_any_blocks_give_the_same_output() {
        let model = builtin();
        let input = sung(2.0, 180.0);
        let mut free = vec![0.0; input.len()];
        Stream::new(model.clone(), RATE, 5).unwrap().process(&mut free);
        assert_eq!(follow(&model, &input, 0.0, &[64], -50.0), free, "follow 0 is the free voice");
        let a = follow(&model, &input, 0.7, &[64], -50.0);
        assert_ne!(a, free, "following changes the voice");
        assert_eq!(a, follow(&model, &input, 0.7, &[1, 511, 37, 2048], -50.0), "block sizes");
    }

    /// The Listener's newest frame after each 10 ms block of `input`, and its gate.
    fn heard(model: &Model, input: &[f32]) -> Vec<(Vec<f32>, bool)> {
        let mut listener = Listener::new(&model.config, RATE).unwrap();
        let block = RATE as usize / 100;
        let mut frames = Vec::new();
        for chunk in input.chunks(block) {
            listener.push(chunk);
            if let Some((frame, open)) = listener.frame_at(listener.pushed()) {
                frames.push((frame.to_vec(), open));
            }
        }
        frames
    }

    #[test]
    fn a_dc_offset_on_the_input_changes_nothing_the_voice_hears() {
        let model = builtin();
        let input = sung(2.0, 150.0);
        let shifted: Vec<f32> = input.iter().map(|v| v + 0.05).collect();
        let (plain, offset) = (heard(&model, &input), heard(&model, &shifted));
        assert_eq!(plain.len(), offset.len());
        // After the first 0.25 s, where the offset's onset decays (16 ms time constant).
        for (k, ((a, open_a), (b, open_b))) in plain.iter().zip(&offset).enumerate().skip(25) {
            assert_eq!(open_a, open_b, "the gate at block {k}");
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(worst < 0.05, "block {k}: frames {worst} apart");
        }
    }

    #[test]
    fn bad_input_never_gives_a_non_finite_output() {
        let model = builtin();
        let n = RATE as usize / 2;
        let square: Vec<f32> = (0..n).map(|i| if i / 80 % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let mut bad: Vec<f32> =
            (0..n).map(|i| [f32::NAN, f32::INFINITY, -f32::INFINITY][i % 3]).collect();
        bad.extend(vec![1e-39; n]);
        bad.extend(square);
        bad.extend(vec![1.0; n]);
        bad.extend(vec![0.0; n]);
        bad.extend(vec![1e30; n]);
        let out = follow(&model, &bad, 1.0, &[256], -120.0);
        assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
        assert!(
            out.iter().all(|v| v.abs() < 8.0),
            "bounded: {}",
            out.iter().fold(0.0f32, |m, v| m.max(v.abs()))
        );
    }

    #[test]
    fn an_onset_comes_out_after_the_reported_latency() {
        let model = builtin();
        let listener = Listener::new(&model.config, RATE).unwrap();
        let stream = Stream::new(model.clone(), RATE, 5).unwrap();
        let reported = stream.follow_latency(&listener);
        // The voice starts free (no input frame yet) and takes about half a second to settle
        // into a silent input: two seconds of it before the onset.
        let onset = 2 * RATE as usize;
        let mut input = vec![0.0f32; onset];
        input.extend(sung(1.0, 150.0).iter().map(|v| v.signum() * 0.3));
        for block in [64, 512] {
            // Gate always open: before the onset the voice resynthesises silence.
            let out = follow(&model, &input, 1.0, &[block], f32::NEG_INFINITY);
            let rms = |a: usize| (out[a..a + 96].iter().map(|v| v * v).sum::<f32>() / 96.0).sqrt();
            let loud = (onset..input.len() - 96).step_by(96).map(rms).fold(0.0f32, f32::max);
            let quiet = (onset / 2..onset - 96).step_by(96).map(rms).fold(0.0f32, f32::max);
            assert!(quiet < 0.05 * loud, "silence in, (near) silence out: {quiet} vs {loud}");
            let heard = (onset..).step_by(16).find(|&a| rms(a) > 0.1 * loud).unwrap() - onset;
            eprintln!("block {block}: heard after {heard}, reported {reported}");
            let frame = 600; // 200 samples at 16 kHz, at 48 kHz
            assert!(
                heard.abs_diff(reported) <= frame,
                "block {block}: heard after {heard}, reported {reported}"
            );
        }
    }
}
