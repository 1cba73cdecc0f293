//! The loader: every damaged or hostile file gives an error that names the file, the tensor
//! and the problem; none panics.

mod common;

use common::{random_model, small_config};
use vrnn_core::{Cell, Latent, ModelConfig, ModelFile, Output};

fn config() -> ModelConfig {
    small_config(Cell::Lstm, Latent::Conditional, Output::Gmm { components: 2 })
}

fn error_of(bytes: &[u8]) -> String {
    ModelFile::from_bytes(bytes, "test.vrnn").expect_err("must be rejected").to_string()
}

/// Rewrites the configuration JSON in a valid file's header.
fn with_config(f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    with_config_of(&config(), f)
}

fn with_config_of(base: &ModelConfig, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let file = random_model(base, 1);
    let mut json = serde_json::to_value(&file.config).unwrap();
    f(&mut json);
    let bytes = file.to_bytes();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    header["__metadata__"]["vrnn_config"] = serde_json::Value::String(json.to_string());
    let mut new_header = serde_json::to_vec(&header).unwrap();
    while !new_header.len().is_multiple_of(8) {
        new_header.push(b' ');
    }
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&new_header);
    out.extend_from_slice(&bytes[8 + header_len..]);
    out
}

#[test]
fn round_trip_through_bytes_and_disk_is_exact() {
    let file = random_model(&config(), 1);
    let again = ModelFile::from_bytes(&file.to_bytes(), "mem").unwrap();
    assert_eq!(again.config, file.config);
    assert_eq!(again.tensors(), file.tensors());
    let dir = std::env::temp_dir().join(format!("vrnn-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.vrnn");
    file.save(&path).unwrap();
    assert_eq!(ModelFile::load(&path).unwrap().tensors(), file.tensors());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_files_are_rejected_at_every_length() {
    let bytes = random_model(&config(), 1).to_bytes();
    let step = (bytes.len() / 200).max(1);
    for len in (0..bytes.len()).step_by(step) {
        let e = error_of(&bytes[..len]);
        assert!(e.starts_with("model file test.vrnn: "), "{e}");
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = random_model(&config(), 1).to_bytes();
    let mut rng = vrnn_core::Rng::new(5);
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() % b.len() as u64) as usize;
            b[i] = rng.next_u64() as u8;
        }
        // Either a valid model (a flipped weight byte) or a clear error.
        if let Err(e) = ModelFile::from_bytes(&b, "x") {
            assert!(e.to_string().starts_with("model file x: "));
        }
    }
}

#[test]
fn garbage_and_empty_files_are_not_models() {
    assert!(error_of(b"").contains("not a valid safetensors"));
    assert!(error_of(b"RIFF\x24\x00\x00\x00WAVEfmt ").contains("not a valid safetensors"));
    let huge_header = [0xff; 16];
    assert!(error_of(&huge_header).contains("not a valid safetensors"));
}

#[test]
fn nan_weight_is_named() {
    let file = random_model(&config(), 1);
    let mut tensors = file.tensors().clone();
    tensors.get_mut("prior.mu.weight").unwrap()[3] = f32::NAN;
    let e = ModelFile::new(file.config.clone(), tensors, "nan.vrnn").unwrap_err().to_string();
    assert!(
        e.contains("nan.vrnn") && e.contains("prior.mu.weight") && e.contains("index 3"),
        "{e}"
    );
    // And through the bytes, as a trainer bug would write it.
    let bytes = file.to_bytes();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut b = bytes.clone();
    let first_value = 8 + header_len;
    b[first_value..first_value + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert!(error_of(&b).contains("is not finite"));
}

#[test]
fn wrong_shape_is_named() {
    let file = random_model(&config(), 1);
    let mut tensors = file.tensors().clone();
    tensors.get_mut("rnn.weight_hh").unwrap().pop();
    let e = ModelFile::new(file.config.clone(), tensors, "shape.vrnn").unwrap_err().to_string();
    assert!(e.contains("rnn.weight_hh") && e.contains("expected [128, 32]"), "{e}");
    let bytes = with_config(|c| c["hidden"] = 33.into());
    let e = error_of(&bytes);
    assert!(e.contains("shape") && e.contains("expected"), "{e}");
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let file = random_model(&config(), 1);
    let mut tensors = file.tensors().clone();
    tensors.remove("decoder.logits.weight");
    let e = ModelFile::new(file.config.clone(), tensors, "m").unwrap_err().to_string();
    assert!(e.contains("'decoder.logits.weight' is missing"), "{e}");
    // A one-component mixture has the Gaussian's shapes plus the logits.
    let one = small_config(Cell::Gru, Latent::None, Output::Gmm { components: 1 });
    let bytes = with_config_of(&one, |c| c["output"] = serde_json::json!({"kind": "gauss"}));
    let e = error_of(&bytes);
    assert!(e.contains("'decoder.logits.bias' is not part of this configuration"), "{e}");
}

#[test]
fn wrong_version_and_absurd_sizes_are_rejected_before_allocating() {
    let e = error_of(&with_config(|c| c["format_version"] = 99.into()));
    assert!(e.contains("format version 99 is not supported"), "{e}");
    let e = error_of(&with_config(|c| c["hidden"] = 1_000_000_000u64.into()));
    assert!(e.contains("hidden = 1000000000 is outside"), "{e}");
    let e = error_of(&with_config(|c| c["normalisation"]["std"] = 0.0.into()));
    assert!(e.contains("std > 0"), "{e}");
    let e = error_of(&with_config(|c| c["sample_rate"] = 0.into()));
    assert!(e.contains("sample_rate"), "{e}");
    let e = error_of(&with_config(|c| c["cell"] = "transformer".into()));
    assert!(e.contains("bad configuration"), "{e}");
}

#[test]
fn missing_file_names_the_path() {
    let e = ModelFile::load("/nonexistent/voice.vrnn").unwrap_err().to_string();
    assert!(e.contains("/nonexistent/voice.vrnn") && e.contains("No such file"), "{e}");
}

#[test]
fn files_from_before_frame_domains_are_time_domain_models() {
    let bytes = with_config(|c| {
        let o = c.as_object_mut().unwrap();
        o.remove("domain");
        o["normalisation"].as_object_mut().unwrap().remove("scale");
    });
    let file = ModelFile::from_bytes(&bytes, "old.vrnn").unwrap();
    assert_eq!(file.config.domain, vrnn_core::Domain::Time);
    assert!(file.config.normalisation.scale.is_empty());
    let builtin = vrnn_core::builtin::builtin_voice().unwrap();
    assert_eq!(builtin.config.domain, vrnn_core::builtin::BUILTIN_DOMAIN);
}

#[test]
fn per_coefficient_scales_are_checked() {
    let e = error_of(&with_config(|c| {
        c["domain"] = "mdct".into();
        c["normalisation"]["scale"] = serde_json::json!([1.0, 2.0]);
    }));
    assert!(e.contains("2 per-position scales for frames of"), "{e}");
    // An hnm model's centres: one per parameter, finite.
    let e = error_of(&with_config(|c| {
        c["domain"] = "hnm".into();
        c["normalisation"]["centre"] = serde_json::json!(vec![0.0; 64]);
    }));
    assert!(e.contains("64 per-position centres for frames of 65 values"), "{e}");
    let e = error_of(&with_config(|c| {
        c["domain"] = "hnm".into();
        let mut centre = vec![serde_json::json!(0.0); 65];
        centre[7] = serde_json::json!("NaN");
        c["normalisation"]["centre"] = serde_json::json!(centre);
    }));
    assert!(e.contains("bad configuration"), "{e}");
    let e = error_of(&with_config(|c| {
        let n = c["frame_size"].as_u64().unwrap() as usize;
        let mut scale = vec![1.0; n];
        scale[3] = 0.0;
        c["normalisation"]["scale"] = serde_json::json!(scale);
    }));
    assert!(e.contains("normalisation scale 3 is 0"), "{e}");
    let e = error_of(&with_config(|c| c["domain"] = "wavelet".into()));
    assert!(e.contains("bad configuration"), "{e}");
}
