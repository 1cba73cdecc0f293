//! Training end to end: the tiny preset learns, the result plays in vrnn-core, a run
//! killed mid-way resumes to exactly the model an uninterrupted run makes, and the model
//! is the best validated one, the run stopping once validation stops improving.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vrnn_core::{Domain, Model, ModelFile, Stream};
use vrnn_trainer::fit::fit;

#[test]
fn tiny_preset_learns_in_both_domains_and_the_model_plays() {
    let dir = common::temp_dir("learn");
    let clip = common::voice_clip(&dir, 20.0);
    let mut raw = Vec::new();
    for domain in [Domain::Time, Domain::Mdct, Domain::Hnm] {
        let model_path = dir.join(format!("tiny-{domain}.vrnn"));
        let mut o = common::tiny_fit(model_path.clone(), 120);
        o.inputs = vec![clip.clone()];
        o.domain = domain;
        let report = fit(&o).unwrap();
        let before = report.initial_val_nelbo.unwrap();
        // hnm frames hold 65 parameters, not 200 samples: less to gain per frame.
        let gain = if domain == Domain::Hnm { 20.0 } else { 50.0 };
        assert!(
            report.val_nelbo < before - gain,
            "{domain}: validation -ELBO {before} -> {}",
            report.val_nelbo
        );
        assert_eq!(report.skipped, 0);
        for p in [&report.outputs.checkpoint, &report.outputs.metrics, &report.outputs.curves] {
            assert!(p.exists(), "{} written", p.display());
        }
        assert!(report.outputs.sound.exists(), "the sound report's spectrograms");
        let file = ModelFile::load(&model_path).unwrap();
        assert_eq!(file.config.domain, domain);
        assert_eq!(file.config.provenance.steps, 120);
        assert_eq!(file.config.provenance.data, ["slt_clip.wav"]);
        let mut stream = Stream::new(Arc::new(Model::from_file(&file)), 48_000.0, 1).unwrap();
        let mut out = vec![0.0; 48_000];
        stream.process(&mut out);
        assert!(out.iter().all(|v| v.is_finite()));
        let rms = (out.iter().map(|v| v * v).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms > 1e-4, "{domain}: not silent: rms {rms}");
        if domain.waveform_likelihood() {
            raw.push(report.val_nelbo_raw);
        }
    }
    // The orthogonal transform keeps the likelihoods comparable, and the spectral domain
    // explains the same held-out speech far better (here by about 340 nats per frame).
    assert!(
        raw[1] < raw[0] - 100.0,
        "raw-scale validation -ELBO: time {}, mdct {}",
        raw[0],
        raw[1]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn killed_run_resumes_to_the_same_model() {
    let dir = common::temp_dir("resume");
    // Far more steps than the killed run makes between its first checkpoint and the kill
    // (a tiny model trains hundreds of steps a second), so that the kill lands mid-run.
    let steps = 200;
    let straight = dir.join("straight.vrnn");
    fit(&common::tiny_fit(straight.clone(), steps)).unwrap();

    // The real binary, killed (SIGKILL) once it has written a checkpoint.
    let killed = dir.join("killed.vrnn");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["fit", common::arctic().to_str().unwrap(), "-o", killed.to_str().unwrap()])
        .args(["--domain", "mdct", "--seq-len", "40"])
        .args([
            "--preset", "tiny", "--steps", "100000", "--device", "cpu", "--seed", "3", "--lr",
            "3e-3",
        ])
        .args(["--batch-size", "8", "--checkpoint-every", "10", "--val-every", "1000", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = killed.with_extension("ckpt");
    let start = Instant::now();
    while !ckpt.exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ckpt.exists(), "a checkpoint was written before the kill");

    let mut resume = common::tiny_fit(killed.clone(), steps);
    resume.resume = true;
    let report = fit(&resume).unwrap();
    assert_eq!(report.steps, steps);
    let (a, b) = (ModelFile::load(&straight).unwrap(), ModelFile::load(&killed).unwrap());
    for (name, va) in a.tensors() {
        let vb = b.tensor(name);
        let worst = va.iter().zip(vb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-6, "{name} differs by {worst}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_model_is_the_best_validated_and_the_run_stops_when_validation_stops_improving() {
    let dir = common::temp_dir("early-stop");
    let path = dir.join("e.vrnn");
    let mut o = common::tiny_fit(path.clone(), 2000);
    (o.val_every, o.patience) = (20, 3);
    let report = fit(&o).unwrap();
    // The validations after step 0, from the metrics file.
    let metrics = std::fs::read_to_string(path.with_extension("metrics.jsonl")).unwrap();
    let vals: Vec<(u64, f64)> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| Some((v["step"].as_u64()?, v["val_nelbo"].as_f64()?)))
        .filter(|(step, _)| *step > 0)
        .collect();
    let (best_step, best) = vals.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert!(report.steps < 2000, "a tiny model on 3 s overfits long before 2000 steps");
    assert_eq!(report.steps, best_step + 3 * 20, "stopped 3 validations after the best: {vals:?}");
    assert_eq!((report.model_step, report.val_nelbo), (best_step, best));
    let model = ModelFile::load(&path).unwrap();
    assert_eq!(model.config.provenance.steps, best_step);
    assert_eq!(model.config.provenance.validation_nelbo, Some(best));
    // The checkpoint goes on from the last step: resuming continues the run, not the model.
    let ckpt = std::fs::read(path.with_extension("ckpt")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ckpt).unwrap();
    let state = &meta.metadata().as_ref().unwrap()["vrnn_training_state"];
    let state: serde_json::Value = serde_json::from_str(state).unwrap();
    assert_eq!(state["step"], report.steps);
    assert_eq!(state["best"]["step"], best_step);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn interrupt_saves_and_exits_cleanly() {
    let dir = common::temp_dir("sigint");
    let model = dir.join("m.vrnn");
    let child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["fit", common::arctic().to_str().unwrap(), "-o", model.to_str().unwrap()])
        .args(["--domain", "mdct", "--seq-len", "40"])
        .args([
            "--preset",
            "tiny",
            "--steps",
            "100000",
            "--device",
            "cpu",
            "--batch-size",
            "4",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = model.with_extension("metrics.jsonl");
    let start = Instant::now();
    while !std::fs::read_to_string(&metrics).is_ok_and(|m| m.lines().count() >= 3)
        && start.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped at step") && stdout.contains("--resume"), "{stdout}");
    let file = ModelFile::load(&model).unwrap();
    assert!(file.config.provenance.steps > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn divergence_stops_training_and_keeps_the_last_checkpoint() {
    let dir = common::temp_dir("diverge");
    let model = dir.join("m.vrnn");
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["fit", common::arctic().to_str().unwrap(), "-o", model.to_str().unwrap()])
        .args(["--domain", "mdct", "--seq-len", "40"])
        .args(["--preset", "tiny", "--steps", "300", "--device", "cpu", "--quiet"])
        .args(["--lr", "1e8", "--clip", "1e30", "--checkpoint-every", "5"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("training diverged") && e.contains("m.ckpt"),
        "{e}"
    );
    assert!(ModelFile::load(&model).is_ok(), "the last checkpointed model is intact");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_second_run_never_destroys_the_first_ones_files() {
    let dir = common::temp_dir("second-run");
    let model = dir.join("voice.vrnn");
    let mut first = common::tiny_fit(model.clone(), 10);
    first.no_sound_report = true;
    let report = fit(&first).unwrap();
    let o = &report.outputs;
    let files = [&o.model, &o.checkpoint, &o.metrics, &o.curves];
    let before: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();

    let e = fit(&first).err().expect("the second run stops").to_string();
    for word in ["voice.vrnn", "voice.ckpt", "already exists", "--resume", "--force", "-o"] {
        assert!(e.contains(word), "{word} in: {e}");
    }
    let after: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(before == after, "the first run's files are untouched");

    let mut resume = first.clone();
    resume.resume = true;
    resume.steps = Some(15);
    assert_eq!(fit(&resume).unwrap().steps, 15, "--resume continues");

    let mut force = first.clone();
    force.force = true;
    force.steps = Some(5);
    assert_eq!(fit(&force).unwrap().steps, 5, "--force starts over");
    assert_eq!(ModelFile::load(&model).unwrap().config.provenance.steps, 5);

    // A model with no checkpoint beside it cannot be resumed, and is kept.
    std::fs::remove_file(&o.checkpoint).unwrap();
    let kept = std::fs::read(&model).unwrap();
    let e = fit(&resume).err().expect("nothing to resume").to_string();
    assert!(e.contains("no checkpoint") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(&model).unwrap(), kept);
    std::fs::remove_dir_all(dir).unwrap();
}
