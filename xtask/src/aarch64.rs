//! `cargo xtask test-aarch64`: vrnn-core's tests built for aarch64 Linux and run under
//! qemu's user-mode emulator, on a CPU with the dot-product extension (qemu's default,
//! all features) and, for the int8 kernels, on one without it (a Cortex-A72).

use std::process::{exit, Command};

use crate::system;

const TARGET: &str = "aarch64-unknown-linux-gnu";

/// The cross linker and C library, and the emulator (.cargo/config.toml names them).
const PACKAGES: &[&str] = &["qemu-user", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"];

fn target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET))
        .unwrap_or(false)
}

pub fn test() {
    system::ensure_packages(PACKAGES);
    if !target_installed() {
        let added = Command::new("rustup").args(["target", "add", TARGET]).status();
        if !added.is_ok_and(|s| s.success()) {
            // rustup fetches the target's standard library from static.rust-lang.org; a
            // machine that cannot reach it cannot build for aarch64 at all.
            eprintln!(
                "xtask: aarch64 tests NOT RUN: `rustup target add {TARGET}` failed (no \
                 network to static.rust-lang.org?)"
            );
            return;
        }
    }
    let cargo_test = |cpu: Option<&str>, tests: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.args(["test", "-p", "vrnn-core", "--target", TARGET]).args(tests);
        if let Some(cpu) = cpu {
            cmd.env("QEMU_CPU", cpu);
        }
        eprintln!("xtask: running {cmd:?} (QEMU_CPU={})", cpu.unwrap_or("max"));
        if !cmd.status().is_ok_and(|s| s.success()) {
            exit(1);
        }
    };
    // Every test of the crate on the full-featured CPU; the int8 tests again without the
    // dot-product extension (the only kernel that depends on it).
    cargo_test(None, &["--lib", "--tests"]);
    cargo_test(Some("cortex-a72"), &["--test", "int8"]);
}
