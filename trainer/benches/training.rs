//! Training throughput (frames/s) on this machine: each preset, and the three reference
//! configurations an independent JAX/XLA implementation of the same VRNN reached on this
//! machine class (2 cores; batch 32 x 40 frames; Adam; LSTM hidden H; MLPs 2 x W; latent Z).

use std::time::Duration;

use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput};
use vrnn_core::{Cell, Latent, MlpSpec, ModelConfig, Output, Rng};
use vrnn_trainer::fit::{noise, train_step, KlShaping};
use vrnn_trainer::net::Net;
use vrnn_trainer::optim::Adam;
use vrnn_trainer::presets::Preset;

const BATCH: usize = 32;
const STEPS: usize = 40;

/// (name, config, JAX frames/s if published for it).
fn configurations() -> Vec<(String, ModelConfig, Option<f64>)> {
    let reference = |h: usize, w: usize, z: usize| {
        ModelConfig::uniform(
            Cell::Lstm,
            h,
            Latent::Conditional,
            z,
            Output::Gauss,
            MlpSpec::new(2, w),
        )
    };
    let mut out = vec![
        ("ref-h64-w64-z16".to_string(), reference(64, 64, 16), Some(69_500.0)),
        ("ref-h256-w256-z64".to_string(), reference(256, 256, 64), Some(11_800.0)),
        ("ref-h512-w512-z128".to_string(), reference(512, 512, 128), Some(3_900.0)),
    ];
    for p in [Preset::Tiny, Preset::Small, Preset::Medium, Preset::Large] {
        out.push((format!("preset-{p:?}").to_lowercase(), p.config(), None));
    }
    out
}

fn device() -> Device {
    if std::env::var("VRNN_BENCH_DEVICE").as_deref() == Ok("cuda") {
        Device::new_cuda(0).expect("VRNN_BENCH_DEVICE=cuda needs a CUDA build and GPU")
    } else {
        Device::Cpu
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let device = device();
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements((BATCH * STEPS) as u64));
    let mut results = Vec::new();
    for (name, config, jax) in configurations() {
        let net = Net::init(&config, 0, &device).unwrap();
        let mut adam = Adam::new(&net, 1e-4).unwrap();
        let mut rng = Rng::new(1);
        let mut data = vec![0.0f32; BATCH * STEPS * config.frame_size];
        rng.fill_gaussian(&mut data);
        let x = Tensor::from_vec(data, (BATCH, STEPS, config.frame_size), &device).unwrap();
        let eps = noise(&mut rng, STEPS, BATCH, config.z_size(), &device).unwrap();
        let mut times = Vec::new();
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter_custom(|iters| {
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    train_step(&net, &mut adam, &x, &eps, 10.0, KlShaping::ELBO).unwrap();
                }
                device.synchronize().unwrap();
                let d = t.elapsed();
                times.push(d.as_secs_f64() / iters as f64);
                d
            })
        });
        times.sort_by(f64::total_cmp);
        if let Some(median) = times.get(times.len() / 2) {
            results.push((name, (BATCH * STEPS) as f64 / median, jax));
        }
    }
    group.finish();
    println!(
        "\n| configuration | vrnn-trainer frames/s | JAX/XLA frames/s | ratio |\n|---|---|---|---|"
    );
    for (name, fps, jax) in results {
        let (j, r) = jax
            .map_or(("-".into(), "-".into()), |j| (format!("{j:.0}"), format!("{:.2}x", fps / j)));
        println!("| {name} | {fps:.0} | {j} | {r} |");
    }
    println!("\ndevice: {device:?}");
}
