//! Training throughput (frames/s) on this machine: each preset (the small one in the hnm
//! domain too, whose frames are 65 values instead of 200), and three reference
//! configurations (batch 32 x 40 frames; Adam; LSTM hidden H; MLPs 2 x W; latent Z). Ratios
//! against other implementations are measured in the same run or not at all, so none are
//! printed here.

use std::time::Duration;

use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput};
use vrnn_core::{Cell, Domain, Latent, MlpSpec, ModelConfig, Output, Rng};
use vrnn_trainer::fit::{noise, train_step, KlShaping};
use vrnn_trainer::net::Net;
use vrnn_trainer::optim::Adam;
use vrnn_trainer::presets::Preset;

const BATCH: usize = 32;
const STEPS: usize = 40;

fn configurations() -> Vec<(String, ModelConfig)> {
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
        ("ref-h64-w64-z16".to_string(), reference(64, 64, 16)),
        ("ref-h256-w256-z64".to_string(), reference(256, 256, 64)),
        ("ref-h512-w512-z128".to_string(), reference(512, 512, 128)),
    ];
    for p in [Preset::Tiny, Preset::Small, Preset::Medium, Preset::Large] {
        out.push((format!("preset-{p:?}").to_lowercase(), p.config()));
    }
    let hnm = ModelConfig { domain: Domain::Hnm, ..Preset::Small.config() };
    out.push(("preset-small-hnm".to_string(), hnm));
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
    for (name, config) in configurations() {
        let net = Net::init(&config, 0, &device).unwrap();
        let mut adam = Adam::new(&net, 1e-4).unwrap();
        let mut rng = Rng::new(1);
        let mut data = vec![0.0f32; BATCH * STEPS * config.frame_dim()];
        rng.fill_gaussian(&mut data);
        let x = Tensor::from_vec(data, (BATCH, STEPS, config.frame_dim()), &device).unwrap();
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
            results.push((name, (BATCH * STEPS) as f64 / median));
        }
    }
    group.finish();
    println!("\n| configuration | frames/s |\n|---|---|");
    for (name, fps) in results {
        println!("| {name} | {fps:.0} |");
    }
    println!("\ndevice: {device:?}");
}
