//! The standalone app: runs on the dummy backend and stops cleanly on SIGTERM; under a
//! virtual display its editor window opens and draws (a screenshot is kept as an artefact).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn standalone() -> PathBuf {
    vrnn_tests::bundled("VRNN Synth")
}

fn terminate(child: Child) -> std::process::Output {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the standalone did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn runs_on_the_dummy_backend_and_stops_on_sigterm() {
    let child = Command::new(standalone())
        .args(["--backend", "dummy", "--sample-rate", "48000", "--period-size", "256"])
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let out = terminate(child);
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn editor_opens_and_draws_under_a_virtual_display() {
    let display = ":97";
    let mut xvfb = Command::new("Xvfb")
        .args([display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (cargo xtask test installs it)");
    std::thread::sleep(Duration::from_secs(1));
    let child = Command::new(standalone())
        .args(["--backend", "dummy", "--sample-rate", "48000", "--period-size", "512"])
        .env("DISPLAY", display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let artefacts = vrnn_tests::target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = artefacts.join("editor.png");
    let _ = std::fs::remove_file(&shot);
    // Wait for the window, then let it draw a few frames of scope and latent plots.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut window = None;
    while window.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let tree = Command::new("xwininfo")
            .args(["-root", "-tree"])
            .env("DISPLAY", display)
            .output()
            .unwrap();
        window = String::from_utf8_lossy(&tree.stdout)
            .lines()
            .find(|l| l.contains("VRNN Synth"))
            .and_then(|l| l.split_whitespace().next().map(String::from));
    }
    std::thread::sleep(Duration::from_secs(3));
    let id = window.expect("the editor window appears");
    let ok = Command::new("import")
        .args(["-window", &id])
        .arg(&shot)
        .env("DISPLAY", display)
        .status()
        .unwrap()
        .success();
    let out = terminate(child);
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    assert!(ok && shot.exists(), "screenshot written");
    // A drawn panel has many colours; a blank or failed window has one or two.
    let colours = Command::new("identify").args(["-format", "%k"]).arg(&shot).output().unwrap();
    let n: usize = String::from_utf8_lossy(&colours.stdout).trim().parse().unwrap_or(0);
    assert!(n > 20, "the editor drew ({n} colours)");
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
