//! `cargo xtask run`: install what is missing, build and start the standalone synth.
//! `cargo xtask test`: install what is missing, then run every test of the workspace.
//! `cargo xtask test-aarch64`: vrnn-core's tests for aarch64, under qemu.
//! `cargo xtask cuda`: builds the trainer with `--features cuda` (no GPU needed).
//! `cargo xtask bundle ...`: nice-plug's bundler (bundler.toml).

mod aarch64;
mod cuda;
mod system;

use std::process::{exit, Command};

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    nice_plug_xtask::chdir_workspace_root()?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("test-aarch64") => {
            aarch64::test();
            Ok(())
        }
        Some("run") => {
            system::ensure_packages(system::PACKAGES);
            play(&args[1..])
        }
        Some("cuda") => {
            cuda::build(&std::env::current_dir()?, &args[1..]);
            Ok(())
        }
        Some("setup") => {
            system::ensure_packages(system::PACKAGES);
            Ok(())
        }
        _ => nice_plug_xtask::main(),
    }
}

/// Features the tests build the plugin with: the standalone app, and an abort on any
/// allocation inside process() (debug builds).
const TEST_FEATURES: &str = "vrnn-plugin/standalone,vrnn-plugin/assert_process_allocs";

/// Every test of the workspace, against a freshly bundled plugin.
fn test(extra: &[String]) -> nice_plug_xtask::Result<()> {
    system::ensure_packages(system::PACKAGES);
    // The host tests load target/bundled/VRNN Synth.{clap,vst3} and the standalone.
    nice_plug_xtask::main_with_args(
        "xtask",
        ["bundle", "vrnn-plugin", "--features", TEST_FEATURES].map(String::from),
    )?;
    run(Command::new("cargo")
        .args(["test", "--workspace", "--all-targets", "--features", TEST_FEATURES])
        .args(extra));
    // Doc examples are tests too; --all-targets leaves them out.
    run(Command::new("cargo").args(["test", "--workspace", "--doc", "--features", TEST_FEATURES]));
    Ok(())
}

/// The synth: a release build of the standalone app playing the built-in voice.
fn play(extra: &[String]) -> nice_plug_xtask::Result<()> {
    let args = [
        "build",
        "--release",
        "-p",
        "vrnn-plugin",
        "--features",
        "standalone",
        "--bin",
        "vrnn_plugin",
    ];
    run(Command::new("cargo").args(args));
    // `cargo xtask run -- --backend dummy` and `cargo xtask run --backend dummy` both work.
    let extra = extra.strip_prefix(&["--".to_string()]).unwrap_or(extra);
    run(Command::new("target/release/vrnn_plugin").args(extra));
    Ok(())
}

fn run(cmd: &mut Command) {
    eprintln!("xtask: running {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("xtask: could not start {cmd:?}: {e}");
            exit(1)
        }
    }
}
