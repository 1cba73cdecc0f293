//! System packages the workspace needs, installed on Debian/Ubuntu when missing.

use std::process::{exit, Command};

/// Debian packages: ALSA and JACK headers for the standalone app and pkg-config to find
/// them; a virtual display, Mesa's software OpenGL and ImageMagick for the editor's
/// screenshot test; a font for the trainer's plots.
pub const PACKAGES: &[&str] = &[
    "pkg-config",
    "libasound2-dev",
    "libjack-jackd2-dev",
    "xvfb",
    "x11-utils",
    "imagemagick",
    "libgl1-mesa-dri",
    "fonts-dejavu-core",
];

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs the missing packages with apt-get (through sudo when not root). On a system
/// without apt, prints the list and stops.
pub fn ensure_packages(packages: &[&str]) {
    let has_apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !has_apt {
        eprintln!(
            "xtask: this system has no apt-get. Install the equivalents of these Debian \
             packages, then run again: {}",
            packages.join(" ")
        );
        exit(1);
    }
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return;
    }
    eprintln!("xtask: installing missing system packages: {}", missing.join(" "));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        Command::new(all[0])
            .args(&all[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    if !(apt(&["update", "-qq"]) && apt(&install)) {
        eprintln!("xtask: could not install {}; install them by hand", missing.join(" "));
        exit(1);
    }
}
