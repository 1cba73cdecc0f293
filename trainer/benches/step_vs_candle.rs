//! One generation step at a time, as a plugin runs it: vrnn-core (f32 and f16 weights)
//! against candle's CPU forward of the same model with the same weights, in one run. Prints
//! the time ratio and the heap allocations per step of each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion};
use vrnn_core::builtin::builtin_voice;
use vrnn_core::{
    Cell, Generator, Latent, MlpSpec, Model, ModelConfig, ModelFile, Output, Precision,
};
use vrnn_trainer::net::{Net, Voice};

/// Counts heap allocations, to report them per step.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations per call of `f`, over 100 calls.
fn allocations_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..100 {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 100.0
}

fn models() -> Vec<(String, ModelFile)> {
    let random = |size: usize| {
        let config = ModelConfig::uniform(
            Cell::Lstm,
            size,
            Latent::Conditional,
            size / 4,
            Output::Gauss,
            MlpSpec::new(2, size),
        );
        Net::init(&config, 1, &Device::Cpu).and_then(|n| n.to_file(&config)).expect("model")
    };
    vec![
        ("vrnn-gauss-128".into(), random(128)),
        ("builtin-voice".into(), builtin_voice().expect("built-in model")),
        ("vrnn-gauss-512".into(), random(512)),
    ]
}

/// A candle voice with its step's noise, generating one frame per call.
struct CandleVoice {
    net: Net,
    voice: Voice,
    eps_z: Tensor,
    eps_x: Tensor,
}

impl CandleVoice {
    fn new(file: &ModelFile) -> CandleVoice {
        let c = &file.config;
        let net = Net::from_file(file, &Device::Cpu).expect("candle model");
        let voice = net.voice(&Device::Cpu).expect("state");
        let eps_z = Tensor::randn(0f32, 1.0, (1, c.z_size()), &Device::Cpu).expect("noise");
        let eps_x = Tensor::randn(0f32, 1.0, (1, c.frame_dim()), &Device::Cpu).expect("noise");
        CandleVoice { net, voice, eps_z, eps_x }
    }

    fn step(&mut self) -> Tensor {
        let (ez, ex) = (&self.eps_z, &self.eps_x);
        self.net.generate_step(&mut self.voice, ez, ex, 0.5, 1.0, 0.3).expect("candle step")
    }
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&criterion_root())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut allocations = Vec::new();
    {
        let mut group = c.benchmark_group("generate");
        for (name, file) in models() {
            let mut core = Vec::new();
            for precision in [Precision::F32, Precision::F16] {
                let model = Model::from_file_with(&file, precision).expect("fits");
                let mut g = Generator::new(Arc::new(model), 1);
                group.bench_function(BenchmarkId::new(precision.name(), &name), |b| {
                    b.iter(|| black_box(g.step(1.0, 0.3)[0]))
                });
                core.push(allocations_per_call(|| {
                    black_box(g.step(1.0, 0.3)[0]);
                }));
            }
            let mut candle = CandleVoice::new(&file);
            group.bench_function(BenchmarkId::new("candle", &name), |b| {
                b.iter(|| black_box(candle.step()))
            });
            let candle_allocs = allocations_per_call(|| {
                black_box(candle.step());
            });
            allocations.push((name, core, candle_allocs));
        }
        group.finish();
    }
    c.final_summary();
    summary(&allocations);
}

/// Where the results go and are read back from: the workspace's target folder, also when
/// the bench binary runs by itself from another folder.
fn criterion_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../criterion")
}

fn summary(allocations: &[(String, Vec<f64>, f64)]) {
    let root = criterion_root().join("generate");
    let median_us = |which: &str, name: &str| -> Option<f64> {
        let p = root.join(which).join(name).join("new/estimates.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64().map(|ns| ns / 1e3)
    };
    println!(
        "\n| model | vrnn-core f32 (us) | vrnn-core f16 (us) | candle CPU (us) | candle / f32 | \
         candle / f16 | allocations per step: f32, f16, candle |\n|---|---|---|---|---|---|---|"
    );
    for (name, core, candle_allocs) in allocations {
        let t = ["f32", "f16", "candle"].map(|w| median_us(w, name));
        let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        let ratio = |a: Option<f64>, b: Option<f64>| {
            a.zip(b).map_or("-".into(), |(a, b)| format!("{:.1}x", a / b))
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {}, {}, {} |",
            us(t[0]),
            us(t[1]),
            us(t[2]),
            ratio(t[2], t[0]),
            ratio(t[2], t[1]),
            core[0],
            core[1],
            candle_allocs
        );
    }
    println!("candle: {} CPU threads", candle_core::utils::get_num_threads());
}
