//! Helpers for the end-to-end tests: where the bundled plugin is, and a small CLAP host
//! (clack-host) that loads it, sets parameters, sends notes and renders audio.

pub mod clap_host;

use std::path::{Path, PathBuf};

/// The workspace's target folder (CARGO_TARGET_DIR when set).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A file of `target/bundled/`, written by `cargo xtask bundle vrnn-plugin` (which
/// `cargo xtask test` runs first).
pub fn bundled(name: &str) -> PathBuf {
    let p = target_dir().join("bundled").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test` (it bundles the plugin first)",
        p.display()
    );
    p
}

pub fn shared_data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(rel)
}
