//! Generation step and cell benchmarks in f32, f16 and bf16 weights, each next to a plain
//! scalar reference in the same run. Ends with a summary: the ratios, the fraction of the
//! memory roofline reached, and the cost of each audio callback with the step run whole or
//! spread over the callbacks.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use vrnn_core::builtin::builtin_voice;
use vrnn_core::kernel::Isa;
use vrnn_core::nn::{pad_vec, Dense, Recurrent};
use vrnn_core::{
    Cell, Generator, Latent, MlpSpec, Model, ModelConfig, ModelFile, Output, Precision, Rng,
    Schedule, StepNoise, Stream,
};

fn random(n: usize, rng: &mut Rng, bound: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * bound).collect()
}

/// Plain scalar matrix-vector product on unpacked `[out, in]` weights.
fn scalar_matvec(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    let n = x.len();
    for (r, out) in y.iter_mut().enumerate() {
        let mut acc = b[r];
        for j in 0..n {
            acc += w[r * n + j] * x[j];
        }
        *out = acc;
    }
}

fn scalar_sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Plain scalar LSTM/GRU cell, the textbook loops.
struct ScalarCell {
    cell: Cell,
    n: usize,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

impl ScalarCell {
    fn step(&mut self, x: &[f32]) {
        let n = self.n;
        scalar_matvec(&self.w_ih, &self.b_ih, x, &mut self.gx);
        scalar_matvec(&self.w_hh, &self.b_hh, &self.h, &mut self.gh);
        for k in 0..n {
            match self.cell {
                Cell::Lstm => {
                    let g = |q: usize| self.gx[q * n + k] + self.gh[q * n + k];
                    let (i, f, gg, o) = (
                        scalar_sigmoid(g(0)),
                        scalar_sigmoid(g(1)),
                        g(2).tanh(),
                        scalar_sigmoid(g(3)),
                    );
                    self.c[k] = f * self.c[k] + i * gg;
                    self.h[k] = o * self.c[k].tanh();
                }
                Cell::Gru => {
                    let r = scalar_sigmoid(self.gx[k] + self.gh[k]);
                    let z = scalar_sigmoid(self.gx[n + k] + self.gh[n + k]);
                    let nn = (self.gx[2 * n + k] + r * self.gh[2 * n + k]).tanh();
                    self.h[k] = (1.0 - z) * nn + z * self.h[k];
                }
            }
        }
    }
}

/// Weight formats the cells and steps are measured in.
const PRECISIONS: [Precision; 4] = Precision::ALL;

fn bench_cells(c: &mut Criterion, weights: &mut WeightBytes) {
    let mut group = c.benchmark_group("cell");
    let mut rng = Rng::new(1);
    let isa = Isa::detect();
    for cell in [Cell::Lstm, Cell::Gru] {
        for hidden in [256, 512, 1024] {
            let input = 64;
            let g = cell.gates() * hidden;
            let bound = 1.0 / (hidden as f32).sqrt();
            let (w_ih, w_hh) =
                (random(g * input, &mut rng, bound), random(g * hidden, &mut rng, bound));
            let (b_ih, b_hh) = (random(g, &mut rng, bound), random(g, &mut rng, bound));
            let name = format!("{}-{input}-{hidden}", format!("{cell:?}").to_lowercase());
            let mut x = pad_vec(input);
            x[..input].copy_from_slice(&random(input, &mut rng, 1.0));
            for precision in PRECISIONS {
                let packed = Recurrent::new(cell, input, hidden, &w_ih, &w_hh, &b_ih, &b_hh)
                    .with_precision(precision);
                let mut state = packed.state();
                group.bench_function(BenchmarkId::new(precision.name(), &name), |b| {
                    b.iter(|| packed.step(isa, black_box(&x), &mut state))
                });
                weights.insert(format!("cell/{precision}/{name}"), packed.bytes());
            }
            let mut scalar = ScalarCell {
                cell,
                n: hidden,
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                h: vec![0.0; hidden],
                c: vec![0.0; hidden],
                gx: vec![0.0; g],
                gh: vec![0.0; g],
            };
            group.bench_function(BenchmarkId::new("scalar", &name), |b| {
                b.iter(|| scalar.step(black_box(&x[..input])))
            });
        }
    }
    let (out, input) = (400, 1024);
    let (w, bias) = (random(out * input, &mut rng, 0.03), random(out, &mut rng, 0.03));
    let mut x = pad_vec(input);
    x[..input].copy_from_slice(&random(input, &mut rng, 1.0));
    let mut y = vec![0.0; out];
    for precision in PRECISIONS {
        let dense = Dense::new(out, input, &w, &bias).with_precision(precision);
        group.bench_function(BenchmarkId::new(precision.name(), "dense-1024-400"), |b| {
            b.iter(|| dense.forward(isa, black_box(&x), &mut y))
        });
        weights.insert(format!("cell/{precision}/dense-1024-400"), dense.bytes());
    }
    group.bench_function(BenchmarkId::new("scalar", "dense-1024-400"), |b| {
        b.iter(|| scalar_matvec(&w, &bias, black_box(&x[..input]), &mut y))
    });
    group.finish();
}

/// Model sizes for the full step: hidden = every MLP's width, latent = hidden / 4.
fn step_config(size: usize, output: Output) -> ModelConfig {
    ModelConfig::uniform(
        Cell::Lstm,
        size,
        Latent::Conditional,
        size / 4,
        output,
        MlpSpec::new(2, size),
    )
}

/// The step benchmarks' models: random ones of three sizes, a GMM, and the built-in voice.
fn step_models() -> Vec<(String, ModelFile)> {
    let mut models: Vec<(String, ModelFile)> = [
        (128, Output::Gauss),
        (256, Output::Gauss),
        (512, Output::Gauss),
        (256, Output::Gmm { components: 20 }),
    ]
    .into_iter()
    .map(|(size, output)| {
        let config = step_config(size, output);
        (
            format!("{}-{size}", config.variant_name().to_lowercase()),
            common::random_model(&config, 1),
        )
    })
    .collect();
    models.push(("builtin-voice".into(), builtin_voice().expect("built-in model")));
    models
}

/// Benchmarks whole steps, each precision held in its own format (the kernels themselves);
/// returns, per model and precision, the format `Model::from_file_with` holds it in here.
fn bench_step(c: &mut Criterion, weights: &mut WeightBytes) -> Vec<String> {
    let mut group = c.benchmark_group("step");
    let mut loaded = Vec::new();
    for (name, file) in step_models() {
        for precision in PRECISIONS {
            let held = Model::from_file_with(&file, precision).expect("fits").storage;
            loaded.push(format!("{name} {precision}: {held}"));
            let model =
                Arc::new(Model::from_file_stored(&file, precision, precision).expect("fits"));
            let mut generator = Generator::new(model.clone(), 1);
            group.bench_function(BenchmarkId::new(precision.name(), &name), |b| {
                b.iter(|| black_box(generator.step(1.0, 1.0)[0]))
            });
            weights.insert(format!("step/{precision}/{name}"), model.step_bytes());
        }
        let config = &file.config;
        let mut reference = common::reference::Reference::new(&file);
        let mut rng = Rng::new(2);
        let mut noise = StepNoise {
            eps_z: vec![0.0; config.z_size()],
            eps_x: vec![0.0; config.frame_dim()],
            u: 0.5,
        };
        group.bench_function(BenchmarkId::new("scalar", &name), |b| {
            b.iter(|| {
                rng.fill_gaussian(&mut noise.eps_z);
                rng.fill_gaussian(&mut noise.eps_x);
                black_box(reference.step(&noise, 1.0, 1.0).x[0])
            })
        });
    }
    group.finish();
    loaded
}

/// The MDCT and hnm domains' per-frame cost (hop 200 at 16 kHz), beside the steps they
/// add to. The hnm frame is a 100 Hz voice (76 harmonics) with noise in every band: the
/// oscillator bank's heaviest ordinary case.
fn bench_domain(c: &mut Criterion) {
    use vrnn_core::domain::{hnm, FrameCodec, Hnm, Mdct};
    let mut group = c.benchmark_group("domain");
    let mut mdct = Mdct::new(200);
    let mut rng = Rng::new(3);
    let frame = random(200, &mut rng, 1.0);
    let mut out = vec![0.0; 200];
    group.bench_function("mdct-synthesis-200", |b| {
        b.iter(|| {
            mdct.synthesise(black_box(&frame), &mut out);
            black_box(out[0])
        })
    });
    let second = random(16_000, &mut rng, 1.0);
    group.bench_function("mdct-analysis-1s", |b| b.iter(|| black_box(mdct.analyse(&second)[0])));
    let mut vocoder = Hnm::new(16_000, 200);
    let mut frame = vec![-4.0; hnm::DIM];
    frame[hnm::F0] = 100f32.ln();
    group.bench_function("hnm-synthesis-200", |b| {
        b.iter(|| {
            vocoder.synthesise(black_box(&frame), &mut out);
            black_box(out[0])
        })
    });
    group.finish();
}

/// Weight bytes of each measured kernel, by "group/precision/name", for the roofline.
type WeightBytes = HashMap<String, usize>;

/// Where the results go and are read back from: the workspace's target folder, also when
/// the bench binary runs by itself from another folder (criterion alone would then write
/// under that folder).
fn criterion_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../criterion")
}

/// Bytes per second a plain streaming read of `bytes` reaches here: the roof for a kernel
/// whose weights are that large. The best of several reading methods (each the best of
/// fifteen timings after a warm-up: with five, a busy neighbour on a shared machine could
/// hold the roof below the kernels), so that the probe is bound by the memory level, not
/// by an add's latency.
fn read_bandwidth(bytes: usize, quick: bool) -> f64 {
    read_methods(bytes, quick).iter().map(|m| m.1).fold(0.0, f64::max)
}

/// Each reading method's bandwidth over `bytes`.
fn read_methods(bytes: usize, quick: bool) -> Vec<(&'static str, f64)> {
    // Memory like the weights' (64-byte aligned, in huge pages where large): on 4 KB pages
    // a plain read of 12-22 MB is 10-20 % slower, which would lower the roof.
    let len = (bytes / 4).max(64) / 64 * 64;
    let (buffer, offset) = vrnn_core::kernel::aligned(len, 0.0f32);
    let data = &buffer[offset..offset + len];
    let passes = if quick { 2 } else { (2_000_000_000 / bytes.max(1)).clamp(20, 20_000) };
    let time = |read: &dyn Fn(&[f32]) -> f32| {
        let mut best = f64::INFINITY;
        for _ in 0..15 {
            let t = Instant::now();
            for _ in 0..passes {
                black_box(read(black_box(data)));
            }
            best = best.min(t.elapsed().as_secs_f64() / passes as f64);
        }
        (data.len() * 4) as f64 / best
    };
    #[allow(unused_mut)]
    let mut methods = vec![("sum, 32 partial sums", time(&sum))];
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY (both): the feature was just detected.
        methods.push(("avx512 add, 8 accumulators", time(&|d| unsafe { add_avx512(d) })));
        methods.push(("avx512 or, 8 accumulators", time(&|d| unsafe { or_avx512(d) })));
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY (both): the feature was just detected.
        methods.push(("avx2 add, 8 accumulators", time(&|d| unsafe { add_avx2(d) })));
        methods.push(("avx2 or, 8 accumulators", time(&|d| unsafe { or_avx2(d) })));
    }
    methods
}

/// A read of `data` through eight independent chains of one vector operation, more than
/// its latency needs: with an add (bound by the adds or the loads) or a one-cycle integer
/// OR (bound by the loads alone).
macro_rules! read_chains {
    ($name:ident, $feature:literal, $lanes:literal, $zero:expr, $load:expr, $op:expr, $total:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(data: &[f32]) -> f32 {
            #[allow(unused_imports)]
            use std::arch::x86_64::*;
            let mut acc = [$zero; 8];
            for chunk in data.chunks_exact(8 * $lanes) {
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = $op(*a, $load(chunk.as_ptr().add($lanes * k)));
                }
            }
            $total(acc.iter().fold($zero, |s, a| $op(s, *a)))
        }
    };
}

read_chains!(
    add_avx512,
    "avx512f",
    16,
    _mm512_setzero_ps(),
    |p| _mm512_loadu_ps(p),
    |a, b| _mm512_add_ps(a, b),
    |s| _mm512_reduce_add_ps(s)
);
read_chains!(
    or_avx512,
    "avx512f",
    16,
    _mm512_setzero_si512(),
    |p: *const f32| _mm512_loadu_si512(p.cast()),
    |a, b| _mm512_or_si512(a, b),
    |s| _mm512_reduce_or_epi32(s) as f32
);
read_chains!(
    add_avx2,
    "avx2",
    8,
    _mm256_setzero_ps(),
    |p| _mm256_loadu_ps(p),
    |a, b| _mm256_add_ps(a, b),
    |s| {
        let v: [f32; 8] = std::mem::transmute(s);
        v.iter().sum()
    }
);
read_chains!(
    or_avx2,
    "avx2",
    8,
    _mm256_setzero_si256(),
    |p: *const f32| _mm256_loadu_si256(p.cast()),
    |a, b| _mm256_or_si256(a, b),
    |s| {
        let v: [i32; 8] = std::mem::transmute(s);
        v.iter().fold(0, |a, b| a | b) as f32
    }
);

/// Sixteen independent partial sums, which the compiler turns into wide vector loads.
fn sum(data: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the feature was just detected.
        return unsafe { sum_avx2(data) };
    }
    sum_portable(data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_avx2(data: &[f32]) -> f32 {
    sum_portable(data)
}

#[inline(always)]
fn sum_portable(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; 32];
    for chunk in data.chunks_exact(32) {
        for k in 0..32 {
            acc[k] += chunk[k];
        }
    }
    acc.iter().sum()
}

/// Cost of each `process` call of `block` samples at 48 kHz over `seconds` of audio, after a
/// second of warm-up, in microseconds, sorted. The stream is deterministic, so it is played
/// `runs` times and each call keeps its fastest time: what remains is the call's own work,
/// not the preemptions of a shared machine.
fn callback_costs(model: &Arc<Model>, schedule: Schedule, block: usize, seconds: f64) -> Vec<f64> {
    let runs = 7;
    let calls = (seconds * 48_000.0 / block as f64) as usize;
    let mut best = vec![f64::INFINITY; calls];
    let mut out = vec![0.0f32; block];
    for _ in 0..runs {
        let generator = Generator::new(model.clone(), 1);
        let mut stream = Stream::with_schedule(generator, 48_000.0, schedule).expect("48 kHz");
        for _ in 0..48_000 / block {
            stream.process(&mut out);
        }
        for b in best.iter_mut() {
            let t = Instant::now();
            stream.process(black_box(&mut out));
            *b = b.min(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    best.sort_by(f64::total_cmp);
    best
}

fn callback_table(quick: bool) {
    let file = builtin_voice().expect("built-in model");
    println!(
        "\nPer-callback cost of one voice, built-in model at 48 kHz (us; each call's fastest of \
         7 identical runs)\n\
         | weights | schedule | block | median | p99 | max | max / mean |\n|---|---|---|---|---|---|---|"
    );
    let seconds = if quick { 0.2 } else { 10.0 };
    for precision in [Precision::F32, Precision::F16] {
        let model = Arc::new(Model::from_file_with(&file, precision).expect("fits"));
        for schedule in [Schedule::Immediate, Schedule::Spread] {
            for block in [64, 256, 1024] {
                let us = callback_costs(&model, schedule, block, seconds);
                let mean = us.iter().sum::<f64>() / us.len() as f64;
                let at = |q: f64| us[((us.len() - 1) as f64 * q) as usize];
                println!(
                    "| {precision} | {schedule:?} | {block} | {:.1} | {:.1} | {:.1} | {:.2} |",
                    at(0.5),
                    at(0.99),
                    at(1.0),
                    at(1.0) / mean
                );
            }
        }
    }
}

/// Reads criterion's estimates back and prints the ratios and the roofline.
fn summary(weights: &WeightBytes, loaded: &[String], quick: bool) {
    let root = criterion_root();
    let read = |group: &str, which: &str, name: &str, file: &str| -> Option<serde_json::Value> {
        let p = root.join(group).join(which).join(name).join("new").join(file);
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    };
    let median_ns = |group: &str, which: &str, name: &str| -> Option<f64> {
        read(group, which, name, "estimates.json")?["median"]["point_estimate"].as_f64()
    };
    // The fastest of criterion's samples (each many iterations): the kernel's own speed
    // with the least interference from the rest of a shared machine, as the read roof is
    // the best of its timings.
    let fastest_ns = |group: &str, which: &str, name: &str| -> Option<f64> {
        let v = read(group, which, name, "sample.json")?;
        let per =
            |k: &str| -> Option<Vec<f64>> { v[k].as_array()?.iter().map(|x| x.as_f64()).collect() };
        per("times")?.iter().zip(per("iters")?).map(|(t, n)| t / n).reduce(f64::min)
    };
    println!(
        "\n| benchmark | f32 (us) | f16 (us) | bf16 (us) | int8 (us) | scalar (us) | f32 / f16 | \
         f32 / bf16 | f32 / int8 | scalar / f32 |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut roofline = Vec::new();
    for group in ["cell", "step"] {
        let Ok(dir) = std::fs::read_dir(root.join(group).join("f32")) else { continue };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "report")
            .collect();
        names.sort();
        for name in names {
            let t: Vec<Option<f64>> = ["f32", "f16", "bf16", "int8", "scalar"]
                .iter()
                .map(|w| median_ns(group, w, &name))
                .collect();
            let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}", v / 1e3));
            let ratio = |a: Option<f64>, b: Option<f64>| {
                a.zip(b).map_or("-".into(), |(a, b)| format!("{:.2}x", a / b))
            };
            println!(
                "| {group}/{name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                us(t[0]),
                us(t[1]),
                us(t[2]),
                us(t[3]),
                us(t[4]),
                ratio(t[0], t[1]),
                ratio(t[0], t[2]),
                ratio(t[0], t[3]),
                ratio(t[4], t[0])
            );
            for (i, p) in PRECISIONS.iter().enumerate() {
                let fastest = fastest_ns(group, p.name(), &name);
                if let (Some(ns), Some(fast), Some(b)) =
                    (t[i], fastest, weights.get(&format!("{group}/{p}/{name}")).copied())
                {
                    roofline.push((format!("{group}/{name} {p}"), b, ns, fast));
                }
            }
        }
    }
    println!(
        "\nMemory roofline: weight bytes per call / time (criterion's median; its fastest \
         sample), against a plain read of as many bytes (the best of its timings)\n\
         | kernel | weights (MB) | median (GB/s) | fastest (GB/s) | read roof (GB/s) | \
         fraction: median | fastest |\n|---|---|---|---|---|---|---|"
    );
    for (name, b, ns, fast) in roofline {
        let roof = read_bandwidth(b, quick);
        let (median, fastest) = (b as f64 / (ns * 1e-9), b as f64 / (fast * 1e-9));
        println!(
            "| {name} | {:.2} | {:.1} | {:.1} | {:.1} | {:.0} % | {:.0} % |",
            b as f64 / 1e6,
            median / 1e9,
            fastest / 1e9,
            roof / 1e9,
            100.0 * median / roof,
            100.0 * fastest / roof
        );
    }
    println!(
        "\nRead bandwidth by size (GB/s; the roof above is the best method at the kernel's size)\n\
         | bytes | method | GB/s |\n|---|---|---|"
    );
    for kb in [16, 256, 1024, 16 * 1024, 256 * 1024] {
        for (method, bw) in read_methods(kb * 1024, quick) {
            println!("| {kb} KB | {method} | {:.1} |", bw / 1e9);
        }
    }
    println!(
        "\nThe format each step model is held in as loaded (`Model::from_file_with` times a \
         16-bit one against the same values as f32; the table above times each format itself):\n{}",
        loaded.join("; ")
    );
    callback_table(quick);
    println!("\nCPU: {}, kernel: {:?}", cpu_model(), Isa::detect());
}

/// The CPU's model name, family and model (a VM may name only "AMD EPYC"), and the
/// instruction set extensions the kernels choose between.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split(':').nth(1))
            .map_or("?", str::trim)
    };
    #[allow(unused_mut)]
    let mut extensions: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let has = [
            ("AVX2", is_x86_feature_detected!("avx2")),
            ("AVX-512F", is_x86_feature_detected!("avx512f")),
            ("AVX-512 BF16", is_x86_feature_detected!("avx512bf16")),
            ("AVX-512 FP16", is_x86_feature_detected!("avx512fp16")),
            ("AVX-512 VNNI", is_x86_feature_detected!("avx512vnni")),
            ("AVX-VNNI", is_x86_feature_detected!("avxvnni")),
        ];
        extensions.extend(has.iter().filter(|h| h.1).map(|h| h.0));
    }
    format!(
        "{} (family {}, model {}; {})",
        field("model name"),
        field("cpu family"),
        field("model"),
        extensions.join(", ")
    )
}

fn main() {
    // `cargo test` runs each benchmark once; `cargo bench` passes --bench.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default()
        .output_directory(&criterion_root())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut weights = WeightBytes::new();
    bench_cells(&mut c, &mut weights);
    let loaded = bench_step(&mut c, &mut weights);
    bench_domain(&mut c);
    c.final_summary();
    summary(&weights, &loaded, quick);
}
