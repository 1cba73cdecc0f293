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
use vrnn_trainer::fused::Engine;
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

/// Multiply-adds per frame: every weight matrix is applied once per frame.
fn macs_per_frame(config: &ModelConfig) -> f64 {
    vrnn_core::names::tensor_specs(config)
        .iter()
        .filter(|s| s.shape.len() == 2)
        .map(|s| (s.shape[0] * s.shape[1]) as f64)
        .sum()
}

/// The machine's matmul rate in this run: one 1024^3 product through candle (and so the
/// gemm crate the fused engine uses), best of ten (the machine is shared), GFLOP/s.
fn matmul_peak(device: &Device) -> f64 {
    let n = 1024;
    let a = Tensor::ones((n, n), candle_core::DType::F32, device).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let c = a.matmul(&a).unwrap();
        device.synchronize().unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        drop(c);
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

fn main() {
    // What `trainer fit` sets up before it trains with the (default) fused engine; the
    // reference rows run under it too (see docs/performance.md for what that costs them).
    vrnn_trainer::threads::elementwise_on_calling_thread();
    vrnn_trainer::memory::keep_freed_memory();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let device = device();
    let peak_before = matmul_peak(&device);
    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements((BATCH * STEPS) as u64));
    let mut results = Vec::new();
    for (name, config) in configurations() {
        let mut net = Net::init(&config, 0, &device).unwrap();
        let mut rng = Rng::new(1);
        let mut data = vec![0.0f32; BATCH * STEPS * config.frame_dim()];
        rng.fill_gaussian(&mut data);
        let x = Tensor::from_vec(data, (BATCH, STEPS, config.frame_dim()), &device).unwrap();
        let eps = noise(&mut rng, STEPS, BATCH, config.z_size(), &device).unwrap();
        let mut rates = Vec::new();
        for engine in [Engine::Reference, Engine::Fused] {
            net.engine = engine;
            let mut adam = Adam::new(&net, 1e-4).unwrap();
            let mut times = Vec::new();
            let id = format!("{name}/{}", format!("{engine:?}").to_lowercase());
            group.bench_function(BenchmarkId::from_parameter(&id), |b| {
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
            rates.push(times.get(times.len() / 2).map(|m| (BATCH * STEPS) as f64 / m));
        }
        if let [Some(reference), Some(fused)] = rates[..] {
            results.push((name, reference, fused, macs_per_frame(&config)));
        }
    }
    group.finish();
    // The machine is shared: the better of a reading before and one after the runs.
    let peak = peak_before.max(matmul_peak(&device));
    println!(
        "\n| configuration | reference frames/s | fused frames/s | fused / reference | fused GFLOP/s | of the matmul peak |\n|---|---|---|---|---|---|"
    );
    for (name, reference, fused, macs) in results {
        // A training step is about 6 flops per weight per frame: 2 forward, 4 backward.
        let gflops = 6.0 * macs * fused / 1e9;
        println!(
            "| {name} | {reference:.0} | {fused:.0} | {:.2}x | {gflops:.1} | {:.0} % |",
            fused / reference,
            100.0 * gflops / peak
        );
    }
    println!("\nmatmul peak (1024^3 f32, candle/gemm, this run): {peak:.1} GFLOP/s");
    println!("threads: {}", candle_core::utils::get_num_threads());
    println!("device: {device:?}");
}
