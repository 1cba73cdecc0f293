//! eval, sample and info on a model the trainer wrote, through the real binary.

mod common;

use std::process::Command;
use std::sync::OnceLock;

use vrnn_trainer::fit::fit;

fn trainer(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer")).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One small trained model (in fit's default domain, MDCT) shared by the tests of this file.
fn model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = common::temp_dir("commands");
        let path = dir.join("m.vrnn");
        fit(&common::tiny_fit(path.clone(), 30)).unwrap();
        path.to_str().unwrap().to_string()
    })
}

/// The same in the paper's time domain.
fn time_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = common::temp_dir("commands-time");
        let path = dir.join("t.vrnn");
        let mut o = common::tiny_fit(path.clone(), 30);
        o.domain = vrnn_core::Domain::Time;
        o.no_sound_report = true;
        fit(&o).unwrap();
        path.to_str().unwrap().to_string()
    })
}

/// The same in the harmonic-plus-noise domain.
fn hnm_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = common::temp_dir("commands-hnm");
        let path = dir.join("h.vrnn");
        let mut o = common::tiny_fit(path.clone(), 30);
        o.domain = vrnn_core::Domain::Hnm;
        o.no_sound_report = true;
        fit(&o).unwrap();
        path.to_str().unwrap().to_string()
    })
}

#[test]
fn an_hnm_model_says_its_likelihood_is_of_vocoder_parameters() {
    let arctic = common::arctic();
    let args = ["eval", hnm_model(), arctic.to_str().unwrap()];
    let json: serde_json::Value =
        serde_json::from_str(&trainer(&[&args[..], &["--json"]].concat())).unwrap();
    assert_eq!(json["domain"], "hnm");
    assert_eq!(json["raw_scale"], "hnm parameters");
    let file = vrnn_core::ModelFile::load(hnm_model()).unwrap();
    let n = &file.config.normalisation;
    assert_eq!((n.centre.len(), n.scale.len()), (65, 65), "a centre and a scale per parameter");
    let log_det: f64 = n.scale.iter().map(|s| (*s as f64).ln()).sum();
    let raw = json["nelbo_per_frame_raw"].as_f64().unwrap();
    assert!((raw - json["nelbo_per_frame_norm"].as_f64().unwrap() - log_det).abs() < 1e-6);
    let text = trainer(&args);
    assert!(text.contains("not of the waveform") && text.contains("raw hnm parameters"), "{text}");
}

#[test]
fn eval_reports_consistent_numbers_in_both_scales() {
    for (model, domain) in [(model(), "mdct"), (time_model(), "time")] {
        eval_is_consistent(model, domain);
    }
}

fn eval_is_consistent(model: &str, domain: &str) {
    let arctic = common::arctic();
    let json: serde_json::Value =
        serde_json::from_str(&trainer(&["eval", model, arctic.to_str().unwrap(), "--json"]))
            .unwrap();
    assert_eq!(json["domain"], domain);
    let get = |k: &str| json[k].as_f64().unwrap_or_else(|| panic!("{k} in {json}"));
    let frames = get("frames");
    assert_eq!(frames, 6.0 * 40.0, "3.1 s = 6 whole 0.5 s sequences");
    assert!((get("nelbo_per_sequence_norm") - 40.0 * get("nelbo_per_frame_norm")).abs() < 1e-6);
    assert!(
        (get("nelbo_per_frame_norm") - get("kl_per_frame") - get("recon_nll_per_frame_norm")).abs()
            < 1e-6
    );
    let file = vrnn_core::ModelFile::load(model).unwrap();
    let n = &file.config.normalisation;
    let log_det: f64 =
        (0..200).map(|i| (n.std as f64 * n.scale.get(i).map_or(1.0, |s| *s as f64)).ln()).sum();
    assert_eq!(n.scale.len(), if domain == "mdct" { 200 } else { 0 });
    assert!((get("nelbo_per_frame_raw") - get("nelbo_per_frame_norm") - log_det).abs() < 1e-6);
    assert!(get("kl_per_frame") >= 0.0);
    let text = trainer(&["eval", model, arctic.to_str().unwrap()]);
    assert!(text.contains("negative ELBO") && text.contains("per sequence"), "{text}");
}

#[test]
fn sample_is_byte_identical_for_the_same_seed() {
    let dir = common::temp_dir("sample");
    let render = |name: &str, seed: &str| {
        let p = dir.join(name);
        trainer(&[
            "sample",
            model(),
            "-o",
            p.to_str().unwrap(),
            "--seconds",
            "1.5",
            "--seed",
            seed,
            "--sample-rate",
            "44100",
        ]);
        std::fs::read(p).unwrap()
    };
    let (a, b, c) = (render("a.wav", "7"), render("b.wav", "7"), render("c.wav", "8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let reader = hound::WavReader::new(std::io::Cursor::new(a)).unwrap();
    assert_eq!(reader.spec().sample_rate, 44_100);
    assert_eq!(reader.len(), 66_150);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn info_reports_configuration_provenance_and_cost() {
    let json: serde_json::Value =
        serde_json::from_str(&trainer(&["info", model(), "--json"])).unwrap();
    assert_eq!(json["variant"], "VRNN-Gauss");
    assert_eq!(json["config"]["provenance"]["steps"], 30);
    assert!(json["parameters"].as_u64().unwrap() > 1000);
    assert!(json["step_us_median"].as_f64().unwrap() > 0.0);
    assert!(json["realtime_factor"].as_f64().unwrap() > 1.0);
    let text = trainer(&["info", model()]);
    assert!(text.contains("real-time factor") && text.contains("arctic_a0009.wav"), "{text}");
    assert!(
        text.contains("mdct domain") && text.contains("sound match vs its training recordings"),
        "{text}"
    );
}

#[test]
fn a_damaged_model_file_is_named_in_the_error() {
    let dir = common::temp_dir("damaged");
    let p = dir.join("broken.vrnn");
    let bytes = std::fs::read(model()).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["info", p.to_str().unwrap()])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("broken.vrnn") && e.contains("not a valid safetensors"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn analyze_writes_the_figure_and_per_frame_numbers() {
    let dir = common::temp_dir("analyze");
    let png = dir.join("a.png");
    let arctic = common::arctic();
    let out = trainer(&[
        "analyze",
        model(),
        arctic.to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
        "--width",
        "640",
        "--height",
        "480",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let frames = json["frames"].as_u64().unwrap() as usize;
    assert_eq!(
        frames,
        49_520_usize.div_ceil(200) + 1,
        "the MDCT frames that cover the 3.1 s utterance (49,520 samples)"
    );
    assert_eq!(json["delta"].as_array().unwrap().len(), frames);
    assert_eq!(json["kl"].as_array().unwrap().len(), frames);
    assert!(json["kl"].as_array().unwrap().iter().all(|v| v.as_f64().unwrap() >= 0.0));
    let dims = Command::new("identify").args(["-format", "%w %h"]).arg(&png).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&dims.stdout), "640 480");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn importance_sampled_likelihood_bounds_the_elbo() {
    let arctic = common::arctic();
    let eval = |k: &str| -> serde_json::Value {
        serde_json::from_str(&trainer(&[
            "eval",
            model(),
            arctic.to_str().unwrap(),
            "--is-samples",
            k,
            "--json",
        ]))
        .unwrap()
    };
    let get = |j: &serde_json::Value, key: &str| {
        j[key].as_f64().unwrap_or_else(|| panic!("{key} in {j}"))
    };
    let many = eval("40");
    let (is, mc, elbo) = (
        get(&many, "nll_is_per_frame_norm"),
        get(&many, "nelbo_mc_per_frame_norm"),
        get(&many, "nelbo_per_frame_norm"),
    );
    // Jensen: log of a mean of weights >= the mean of their logs, for the same samples.
    assert!(is <= mc + 1e-9, "IS {is} vs Monte-Carlo ELBO {mc}");
    // Against the analytic-KL ELBO (other samples): up to Monte-Carlo error, 2 % here.
    assert!(is <= elbo + 0.02 * elbo.abs(), "IS {is} vs ELBO {elbo}");
    assert!((get(&many, "nll_is_per_sequence_norm") - 40.0 * is).abs() < 1e-6);
    let one = eval("1");
    assert!(
        (get(&one, "nll_is_per_frame_norm") - get(&one, "nelbo_mc_per_frame_norm")).abs() < 1e-9,
        "K = 1 is a single-sample ELBO"
    );
}

#[test]
fn half_precision_weights_keep_the_elbo_within_a_thousandth() {
    let arctic = common::arctic();
    let nelbo = |precision: &str| -> f64 {
        let args = ["eval", model(), arctic.to_str().unwrap(), "--is-samples", "0", "--json"];
        let json: serde_json::Value =
            serde_json::from_str(&trainer(&[&args[..], &["--precision", precision]].concat()))
                .unwrap();
        json["nelbo_per_frame_raw"].as_f64().unwrap()
    };
    let reference = nelbo("f32");
    for precision in ["f16", "bf16"] {
        let got = nelbo(precision);
        assert!(
            (got - reference).abs() <= 1e-3 * reference.abs(),
            "{precision}: {got} vs {reference}"
        );
    }
    let info = trainer(&["info", model(), "--precision", "f16"]);
    assert!(info.contains("as f16") || info.contains("f16 values held as f32"), "{info}");
}

#[test]
fn eval_sound_reports_the_figures_a_verdict_and_spectrograms() {
    let dir = common::temp_dir("sound");
    let png = dir.join("sound.png");
    let arctic = common::arctic();
    let out = trainer(&[
        "eval",
        model(),
        arctic.to_str().unwrap(),
        "--is-samples",
        "0",
        "--sound",
        "--sound-png",
        png.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sound = &json["sound"];
    for key in [
        "ltas_db",
        "flatness_ratio",
        "level_difference_db",
        "modulation_l1",
        "voiced_fraction",
        "click_ratio",
        "long_pause_share",
    ] {
        assert!(sound[key].as_f64().is_some_and(f64::is_finite), "{key} in {sound}");
    }
    let renders = sound["per_render"].as_array().unwrap();
    assert_eq!(renders.len(), 3, "three seeds by default: {sound}");
    let worst = renders.iter().map(|r| r["long_pause_share"].as_f64().unwrap()).fold(0.0, f64::max);
    assert_eq!(sound["long_pause_share"].as_f64(), Some(worst), "the worst render's");
    assert!(sound["resynth"]["ltas_db"].as_f64().is_some(), "{sound}");
    assert!(sound["verdict"].as_str().is_some_and(|v| v.contains("match")), "{sound}");
    assert!(json["evaluation"]["frames"].as_f64().is_some());
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[1..4], b"PNG");
    // fit made the same report against its training audio and stored its summary.
    let info: serde_json::Value =
        serde_json::from_str(&trainer(&["info", model(), "--json"])).unwrap();
    let stored = &info["config"]["provenance"]["sound"];
    assert_eq!(stored["references"], "its training recordings", "{stored}");
    assert!(stored["ltas_db"].as_f64().is_some(), "{stored}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resynth_is_aligned_deterministic_and_follows_its_input() {
    let dir = common::temp_dir("resynth");
    let arctic = common::arctic();
    let input = vrnn_trainer::audio::load_mono(&arctic, 16_000, 0.0).unwrap();
    for model in [model(), time_model(), hnm_model()] {
        let render = |name: &str, extra: &[&str]| {
            let p = dir.join(name);
            let args =
                [&["resynth", model, arctic.to_str().unwrap(), "-o", p.to_str().unwrap()], extra]
                    .concat();
            trainer(&args);
            let samples: Vec<f32> =
                hound::WavReader::open(&p).unwrap().samples::<f32>().map(Result::unwrap).collect();
            (std::fs::read(&p).unwrap(), samples)
        };
        let (a, _) = render("a.wav", &[]);
        let (b, _) = render("b.wav", &[]);
        assert_eq!(a, b, "{model}: the same seed renders the same file");
        let (c, samples) = render("c.wav", &["--noise", "0"]);
        assert_ne!(a, c, "{model}: the decoder's mean is not the default (sampled) render");
        assert_eq!(samples.len(), input.len(), "{model}: as long as its input at the model's rate");
        assert!(samples.iter().all(|v| v.is_finite()));
        // The decoder's mean follows the input's loudness contour: loud where it is loud.
        let energy = |x: &[f32]| {
            x.chunks(800).map(|c| c.iter().map(|v| v * v).sum::<f32>()).collect::<Vec<_>>()
        };
        let (ei, eo) = (energy(&input), energy(&samples));
        let loud: Vec<usize> = (0..ei.len())
            .filter(|&i| ei[i] > 0.1 * ei.iter().cloned().fold(0.0, f32::max))
            .collect();
        let quiet: Vec<usize> = (0..ei.len())
            .filter(|&i| ei[i] < 1e-3 * ei.iter().cloned().fold(0.0, f32::max))
            .collect();
        let mean =
            |idx: &[usize]| idx.iter().map(|&i| eo[i]).sum::<f32>() / idx.len().max(1) as f32;
        assert!(!loud.is_empty() && !quiet.is_empty());
        // The input's loud frames are 20 dB or more above its quiet ones; one that ignored
        // its input would give a ratio near 1. The tiny MDCT model after 30 steps gives
        // about 3 (2.99 with the DC high-pass, 3.07 without), time 5.2, hnm over 1000.
        assert!(
            mean(&loud) > 2.5 * mean(&quiet),
            "{model}: loud {} vs quiet {}",
            mean(&loud),
            mean(&quiet)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn resynth_follow_plays_the_live_path_closer_to_its_input_than_free_generation() {
    let dir = common::temp_dir("follow");
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/models/voice.vrnn");
    let arctic = common::arctic();
    let render = |follow: &str| {
        let out = dir.join(format!("follow{follow}.wav"));
        let (a, o) = (arctic.to_str().unwrap(), out.to_str().unwrap());
        trainer(&["resynth", builtin, a, "-o", o, "--follow", follow, "--seed", "3"]);
        let json = trainer(&["match", o, "--against", a, "--rate", "16000", "--json"]);
        let r: serde_json::Value = serde_json::from_str(&json).unwrap();
        (out, r["ltas_db"].as_f64().unwrap())
    };
    let ((free, free_db), (_, followed_db)) = (render("0"), render("1"));
    assert!(
        followed_db + 2.0 < free_db,
        "follow 1: {followed_db:.1} dB, follow 0: {free_db:.1} dB"
    );
    // Follow 0 is free generation: `sample`'s render at the same seed, shifted by the latency.
    let model = std::sync::Arc::new(vrnn_core::Model::load(builtin).unwrap());
    let listener = vrnn_core::Listener::new(&model.config, 48_000.0).unwrap();
    let delay =
        vrnn_core::Stream::new(model.clone(), 48_000.0, 3).unwrap().follow_latency(&listener);
    let followed: Vec<f32> =
        hound::WavReader::open(&free).unwrap().samples().map(Result::unwrap).collect();
    let seconds = (followed.len() + delay) as f64 / 48_000.0;
    let noise = model.config.domain.default_noise();
    let o = vrnn_trainer::sample::SampleOptions {
        seconds,
        temperature: 1.0,
        noise,
        seed: 3,
        sample_rate: 48_000,
    };
    let sampled = vrnn_trainer::sample::render(model, &o).unwrap();
    assert_eq!(followed[..], sampled[delay..delay + followed.len()]);
    std::fs::remove_dir_all(dir).unwrap();
}
