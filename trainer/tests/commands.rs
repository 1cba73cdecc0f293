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

/// One small trained model shared by the tests of this file.
fn model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = common::temp_dir("commands");
        let path = dir.join("m.vrnn");
        fit(&common::tiny_fit(path.clone(), 30)).unwrap();
        path.to_str().unwrap().to_string()
    })
}

#[test]
fn eval_reports_consistent_numbers_in_both_scales() {
    let arctic = common::arctic();
    let json: serde_json::Value =
        serde_json::from_str(&trainer(&["eval", model(), arctic.to_str().unwrap(), "--json"]))
            .unwrap();
    let get = |k: &str| json[k].as_f64().unwrap_or_else(|| panic!("{k} in {json}"));
    let frames = get("frames");
    assert_eq!(frames, 6.0 * 40.0, "3.1 s = 6 whole 0.5 s sequences");
    assert!((get("nelbo_per_sequence_norm") - 40.0 * get("nelbo_per_frame_norm")).abs() < 1e-6);
    assert!(
        (get("nelbo_per_frame_norm") - get("kl_per_frame") - get("recon_nll_per_frame_norm")).abs()
            < 1e-6
    );
    let file = vrnn_core::ModelFile::load(model()).unwrap();
    let log_det = 200.0 * (file.config.normalisation.std as f64).ln();
    assert!((get("nelbo_per_frame_raw") - get("nelbo_per_frame_norm") - log_det).abs() < 1e-6);
    assert!(get("kl_per_frame") >= 0.0);
    let text = trainer(&["eval", model(), arctic.to_str().unwrap()]);
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
    assert_eq!(frames, 49_520 / 200, "every whole frame of the 3.1 s utterance (49,520 samples)");
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
    assert!(info.contains("as f16"), "{info}");
}
