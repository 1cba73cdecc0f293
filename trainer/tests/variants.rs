//! Every variant the paper compares trains on a real utterance, evaluates to finite numbers,
//! loads in vrnn-core and plays.

mod common;

use std::sync::Arc;

use vrnn_core::{Model, ModelFile, Stream};
use vrnn_trainer::fit::fit;
use vrnn_trainer::presets::Variant;

#[test]
fn every_variant_trains_evaluates_and_plays() {
    let dir = common::temp_dir("variants");
    for (variant, name) in [
        (Variant::VrnnGauss, "VRNN-Gauss"),
        (Variant::VrnnGmm, "VRNN-GMM"),
        (Variant::VrnnIGauss, "VRNN-I-Gauss"),
        (Variant::RnnGauss, "RNN-Gauss"),
        (Variant::RnnGmm, "RNN-GMM"),
    ] {
        let path = dir.join(format!("{name}.vrnn"));
        let mut opts = common::tiny_fit(path.clone(), 15);
        opts.variant = variant;
        opts.mixtures = 4;
        let report = fit(&opts).unwrap();
        assert!(report.val_nelbo.is_finite(), "{name}");
        let file = ModelFile::load(&path).unwrap();
        assert_eq!(file.config.variant_name(), name);
        let model = Arc::new(Model::from_file(&file));
        let e = vrnn_trainer::eval::evaluate(model.clone(), &[common::arctic()], 40, 0, 4).unwrap();
        assert!(e.nelbo_per_frame_raw.is_finite() && e.kl_per_frame.is_finite(), "{name}");
        assert_eq!(e.exact, name.starts_with("RNN"), "{name}");
        assert_eq!(e.nll_is_per_frame_norm.is_some(), !e.exact, "{name}: IS only with a latent");
        let mut stream = Stream::new(model, 48_000.0, 3).unwrap();
        let mut out = vec![0.0; 12_000];
        stream.process(&mut out);
        assert!(out.iter().all(|v| v.is_finite()) && out.iter().any(|v| *v != 0.0), "{name} plays");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn compare_writes_the_table_of_all_five_variants_and_their_curves() {
    let dir = common::temp_dir("compare");
    let opts = vrnn_trainer::compare::CompareOptions {
        inputs: vec![common::arctic()],
        output: dir.clone(),
        preset: vrnn_trainer::presets::Preset::Tiny,
        domain: vrnn_core::Domain::Mdct,
        steps: Some(5),
        minutes: None,
        device: "cpu".into(),
        seed: 2,
        mixtures: 3,
        batch: 4,
        is_samples: 2,
        resume: false,
        force: false,
    };
    let hnm =
        vrnn_trainer::compare::CompareOptions { domain: vrnn_core::Domain::Hnm, ..opts.clone() };
    let refused = vrnn_trainer::compare::compare(&hnm).unwrap_err().to_string();
    assert!(
        refused.contains("vocoder parameters") && refused.contains("--domain time"),
        "{refused}"
    );
    let table = vrnn_trainer::compare::compare(&opts).unwrap();
    let written = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert_eq!(table, written);
    for (name, bound) in [
        ("RNN-Gauss", false),
        ("RNN-GMM", false),
        ("VRNN-I-Gauss", true),
        ("VRNN-Gauss", true),
        ("VRNN-GMM", true),
    ] {
        let row = written
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("{name} row"));
        assert_eq!(row.contains(">="), bound, "{row}");
        assert_eq!(row.contains("~ "), bound, "{row}");
    }
    assert!(dir.join("curves.png").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
