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
