//! Generation step and cell benchmarks, each next to a plain scalar reference in the same
//! run. Ends with a summary table of ratios and the fraction of memory bandwidth reached.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion};
use vrnn_core::kernel::Isa;
use vrnn_core::nn::{pad_vec, Dense, Recurrent};
use vrnn_core::{Cell, Generator, Latent, MlpSpec, Model, ModelConfig, Output, Rng, StepNoise};

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

fn bench_cells(c: &mut Criterion) {
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
            let packed = Recurrent::new(cell, input, hidden, &w_ih, &w_hh, &b_ih, &b_hh);
            let mut state = packed.state();
            let mut x = pad_vec(input);
            x[..input].copy_from_slice(&random(input, &mut rng, 1.0));
            group.bench_function(BenchmarkId::new("vrnn", &name), |b| {
                b.iter(|| packed.step(isa, black_box(&x), &mut state))
            });
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
    let dense = Dense::new(out, input, &w, &bias);
    let mut x = pad_vec(input);
    x[..input].copy_from_slice(&random(input, &mut rng, 1.0));
    let mut y = vec![0.0; out];
    group.bench_function(BenchmarkId::new("vrnn", "dense-1024-400"), |b| {
        b.iter(|| dense.forward(isa, black_box(&x), &mut y))
    });
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

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    for (size, output) in [
        (128, Output::Gauss),
        (256, Output::Gauss),
        (512, Output::Gauss),
        (256, Output::Gmm { components: 20 }),
    ] {
        let config = step_config(size, output);
        let file = common::random_model(&config, 1);
        let model = Arc::new(Model::from_file(&file));
        let name = format!("{}-{size}", config.variant_name().to_lowercase());
        let mut generator = Generator::new(model.clone(), 1);
        group.bench_function(BenchmarkId::new("vrnn", &name), |b| {
            b.iter(|| black_box(generator.step(1.0, 1.0)[0]))
        });
        let mut reference = common::reference::Reference::new(&file);
        let mut rng = Rng::new(2);
        let mut noise = StepNoise {
            eps_z: vec![0.0; config.z_size()],
            eps_x: vec![0.0; config.frame_size],
            u: 0.5,
        };
        group.bench_function(BenchmarkId::new("scalar", &name), |b| {
            b.iter(|| {
                rng.fill_gaussian(&mut noise.eps_z);
                rng.fill_gaussian(&mut noise.eps_x);
                black_box(reference.step(&noise, 1.0, 1.0).x[0])
            })
        });
        println!("{name}: {} weight bytes per step", model.step_bytes());
    }
    group.finish();
}

/// Reads criterion's estimates back and prints one table of ratios.
fn summary() {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../criterion");
    let mean_ns = |group: &str, which: &str, name: &str| -> Option<f64> {
        let p = root.join(group).join(which).join(name).join("new/estimates.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    println!(
        "\n| benchmark | vrnn-core (us) | scalar reference (us) | speed-up |\n|---|---|---|---|"
    );
    for group in ["cell", "step"] {
        let Ok(dir) = std::fs::read_dir(root.join(group).join("vrnn")) else { continue };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "report")
            .collect();
        names.sort();
        for name in names {
            if let (Some(v), Some(s)) =
                (mean_ns(group, "vrnn", &name), mean_ns(group, "scalar", &name))
            {
                println!("| {group}/{name} | {:.2} | {:.2} | {:.1}x |", v / 1e3, s / 1e3, s / v);
            }
        }
    }
    println!("\nCPU: {}, kernel: {:?}", cpu_model(), Isa::detect());
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_cells(&mut c);
    bench_step(&mut c);
    c.final_summary();
    summary();
}
