//! `cargo xtask cuda`: builds the trainer with CUDA on a machine without a GPU or a CUDA
//! installation. NVIDIA's compiler and headers come from PyPI wheels into `.cuda/`; the
//! driver library, which is not redistributed, is replaced at link time by a stand-in.

use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// CUDA 13.0 matches the 580 drivers seen on the GPU machines; candle's cudarc accepts
/// nvcc up to 13.4.
const WHEELS: &[&str] = &[
    "cuda-toolkit[nvcc,cudart,cublas,curand,nvrtc,cccl]==13.0.2",
    "nvidia-nvvm==13.0.88",
    "nvidia-cuda-crt==13.0.88",
];
/// Libraries candle links by their unversioned names.
const LIBS: &[&str] = &["libcudart", "libcublas", "libcublasLt", "libcurand", "libnvrtc"];

fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("xtask cuda: {what} failed");
        exit(1);
    }
}

/// Installs the toolkit wheels (once) and returns the folder holding bin/, include/, lib/.
fn toolkit(root: &Path) -> PathBuf {
    let target = root.join(".cuda/toolkit");
    let cu = target.join("nvidia/cu13");
    if !cu.join("bin/nvcc").exists() {
        eprintln!(
            "xtask cuda: installing nvcc and the CUDA headers from PyPI into {}",
            target.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--target"])
            .arg(&target)
            .args(WHEELS)
            .status()
            .is_ok_and(|s| s.success());
        check(ok, "pip install of the CUDA wheels (needs python3 with pip)");
    }
    cu
}

/// A CUDA_HOME whose lib/ has the unversioned library names and a stand-in libcuda.so.
fn cuda_home(root: &Path, cu: &Path) -> PathBuf {
    let home = root.join(".cuda/home");
    let lib = home.join("lib");
    std::fs::create_dir_all(&lib).expect("create .cuda/home/lib");
    for name in LIBS {
        let found = std::fs::read_dir(cu.join("lib"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}.so.")))
            });
        let Some(versioned) = found else {
            eprintln!("xtask cuda: {name}.so.* not found in {}", cu.join("lib").display());
            exit(1);
        };
        let link = lib.join(format!("{name}.so"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&versioned, &link).expect("symlink CUDA library");
    }
    // The driver's libcuda.so.1 ships with the driver, not the wheels, and cudarc links its
    // functions directly: the stand-in defines each of them, returning
    // CUDA_ERROR_STUB_LIBRARY (34). At run time the real driver library is found instead.
    let stub_c = home.join("libcuda_stub.c");
    let stub: String = driver_functions(root)
        .iter()
        .map(|f| format!("int {f}(void) {{ return 34; }}\n"))
        .collect();
    std::fs::write(&stub_c, stub).expect("write stub");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(lib.join("libcuda.so"))
        .arg(&stub_c)
        .status()
        .is_ok_and(|s| s.success());
    check(ok, "building the libcuda.so stand-in with cc");
    home
}

/// The `cu*` driver functions cudarc's bindings declare, read from its source.
fn driver_functions(root: &Path) -> Vec<String> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--features", "vrnn-trainer/cuda"])
        .current_dir(root)
        .output();
    let meta = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    // The manifest path of the cudarc package, without a JSON parser: "manifest_path":".../cudarc-x.y.z/Cargo.toml".
    let manifest = meta
        .split("\"manifest_path\":\"")
        .filter_map(|s| s.split('"').next())
        .find(|p| p.contains("/cudarc-") && p.ends_with("Cargo.toml"));
    let Some(manifest) = manifest else {
        eprintln!("xtask cuda: cudarc is not in Cargo.lock");
        exit(1);
    };
    let sys = Path::new(manifest).with_file_name("src/driver/sys/mod.rs");
    let text = std::fs::read_to_string(&sys).unwrap_or_else(|e| {
        eprintln!("xtask cuda: cannot read {}: {e}", sys.display());
        exit(1)
    });
    let mut names: Vec<String> = text
        .split("fn cu")
        .skip(1)
        .map(|rest| {
            format!(
                "cu{}",
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("")
            )
        })
        .filter(|n| n.len() > 2)
        .collect();
    names.sort();
    names.dedup();
    names
}

pub fn build(root: &Path, extra: &[String]) {
    let cu = toolkit(root);
    let home = cuda_home(root, &cu);
    let path =
        format!("{}:{}", cu.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".into());
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "-p", "vrnn-trainer", "--features", "cuda", "--bins", "--benches"])
        .args(extra)
        .env("PATH", path)
        .env("NVCC", cu.join("bin/nvcc"))
        .env("CUDA_COMPUTE_CAP", &cap)
        .env("CUDA_HOME", &home)
        .env("CUDA_PATH", &home)
        .env("CUDA_INCLUDE_DIR", cu.join("include"))
        .env("LIBRARY_PATH", home.join("lib"));
    eprintln!("xtask cuda: building with nvcc from {} for compute capability {cap}", cu.display());
    check(cmd.status().is_ok_and(|s| s.success()), "cargo build --features cuda");
}
