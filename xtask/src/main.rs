//! `cargo xtask test`: install what is missing, then run every test of the workspace.
//! `cargo xtask bundle ...`: nice-plug's bundler (bundler.toml).

mod system;

use std::process::{exit, Command};

fn main() -> nice_plug_xtask::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    nice_plug_xtask::chdir_workspace_root()?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("setup") => {
            system::ensure_packages(system::PACKAGES);
            Ok(())
        }
        _ => nice_plug_xtask::main(),
    }
}

/// Everything CI checks, in the order that fails fastest.
fn test(extra: &[String]) -> nice_plug_xtask::Result<()> {
    system::ensure_packages(system::PACKAGES);
    run(Command::new("cargo").args(["test", "--workspace", "--all-targets"]).args(extra));
    // Doc examples are tests too; --all-targets leaves them out.
    run(Command::new("cargo").args(["test", "--workspace", "--doc"]));
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
