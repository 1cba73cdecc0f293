//! Recordings in every common format load as mono at the model rate (the same samples as
//! the original within the codec's tolerance), without a DC offset; truncated files load
//! what they hold, with a warning; a clipped take is told apart from a clean one; every bad
//! input gives an error that names the file and the reason.

mod common;

use std::process::Command;

use vrnn_trainer::audio::load_mono;

type Writer<'a> = Box<dyn Fn(&std::path::Path) + 'a>;

#[test]
fn every_wav_format_loads_as_mono_at_the_model_rate() {
    let dir = common::temp_dir("formats");
    let tone = common::tone(44_100, 1.2);
    let stereo: Vec<f32> = tone.iter().flat_map(|v| [*v, *v * 0.5]).collect();
    let cases: Vec<(String, Writer)> = vec![
        ("f32 stereo".into(), Box::new(|p| common::write_float_wav(p, 44_100, 2, &stereo))),
        ("i8".into(), Box::new(|p| common::write_int_wav(p, 44_100, 1, 8, &tone))),
        ("i16".into(), Box::new(|p| common::write_int_wav(p, 44_100, 1, 16, &tone))),
        (
            "i24 4ch".into(),
            Box::new(|p| {
                common::write_int_wav(
                    p,
                    44_100,
                    4,
                    24,
                    &tone.iter().flat_map(|v| [*v; 4]).collect::<Vec<_>>(),
                )
            }),
        ),
        ("i32".into(), Box::new(|p| common::write_int_wav(p, 44_100, 1, 32, &tone))),
    ];
    for (name, write) in cases {
        let path = dir.join(format!("{}.wav", name.replace(' ', "_")));
        write(&path);
        let x = load_mono(&path, 16_000, 1.0).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let expected = (1.2 * 16_000.0) as usize;
        assert!(x.len().abs_diff(expected) <= 2, "{name}: {} samples", x.len());
        let peak = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(peak > 0.1 && peak < 1.0, "{name}: peak {peak}");
    }
    // The README's example: 48 kHz, 24-bit stereo.
    let voice = load_mono(&common::data("voice/voice.wav"), 16_000, 1.0).unwrap();
    assert!((voice.len() as f64 / 16_000.0 - 60.0).abs() < 1.0);
    std::fs::remove_dir_all(dir).unwrap();
}

fn fit_error(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("fit")
        .args(args)
        .args(["--steps", "1", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "must fail: {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_recordings_are_refused_with_the_file_and_the_reason() {
    let dir = common::temp_dir("bad");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();

    std::fs::write(p("text.wav"), "not audio").unwrap();
    let e = fit_error(&[&p("text.wav")]);
    assert!(e.contains("text.wav") && e.contains("not a readable audio file"), "{e}");

    common::write_float_wav(&dir.join("empty.wav"), 16_000, 1, &[]);
    let e = fit_error(&[&p("empty.wav")]);
    assert!(e.contains("empty.wav") && e.contains("empty"), "{e}");

    common::write_float_wav(&dir.join("short.wav"), 16_000, 1, &common::tone(16_000, 0.3));
    let e = fit_error(&[&p("short.wav")]);
    assert!(
        e.contains("short.wav")
            && e.contains("0.30 s is too short")
            && e.contains("at least 2.00 s"),
        "{e}"
    );

    let mut nan = common::tone(16_000, 2.0);
    nan[12_345] = f32::NAN;
    common::write_float_wav(&dir.join("nan.wav"), 16_000, 1, &nan);
    let e = fit_error(&[&p("nan.wav")]);
    assert!(e.contains("nan.wav") && e.contains("sample 12345") && e.contains("not finite"), "{e}");

    common::write_int_wav(&dir.join("silent.wav"), 16_000, 1, 16, &vec![0.0; 32_000]);
    let e = fit_error(&[&p("silent.wav")]);
    assert!(e.contains("silent.wav") && e.contains("silent"), "{e}");

    // A DC offset with nothing on it (a disconnected input) is silence too.
    common::write_float_wav(&dir.join("offset.wav"), 16_000, 1, &vec![0.2; 40_000]);
    let e = fit_error(&[&p("offset.wav")]);
    assert!(e.contains("offset.wav") && e.contains("silent"), "{e}");

    let e = fit_error(&[&p("missing.wav")]);
    assert!(e.contains("missing.wav"), "{e}");

    std::fs::create_dir_all(dir.join("nothing")).unwrap();
    let e = fit_error(&[&p("nothing")]);
    assert!(e.contains("nothing") && e.contains("no audio file"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_dc_offset_is_removed_on_loading() {
    let dir = common::temp_dir("dc");
    let tone = common::tone(44_100, 2.5);
    let shifted: Vec<f32> = tone.iter().map(|v| v + 0.1).collect();
    common::write_float_wav(&dir.join("plain.wav"), 44_100, 1, &tone);
    common::write_float_wav(&dir.join("shifted.wav"), 44_100, 1, &shifted);
    let plain = load_mono(&dir.join("plain.wav"), 16_000, 0.0).unwrap();
    let loaded = load_mono(&dir.join("shifted.wav"), 16_000, 0.0).unwrap();
    // From the first sample on: no step where the recording starts.
    let worst = plain.iter().zip(&loaded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "the offset left {worst}");
    let mean = loaded.iter().sum::<f32>() / loaded.len() as f32;
    assert!(mean.abs() < 1e-3, "mean {mean}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_recording_that_clips_is_told_apart_from_one_that_does_not() {
    use vrnn_trainer::audio::{load_recording, CLIPPED_WARNING};
    let share = |p: &std::path::Path| load_recording(p, 16_000, 0.0).unwrap().clipped;
    // Every real recording here, speech and its codecs, reaches its peak without sitting on it.
    let mut clean: Vec<std::path::PathBuf> =
        ["voice/awb_flite_16k.wav", "voice/voice.wav"].iter().map(|p| common::data(p)).collect();
    clean.push(common::arctic());
    for ext in ["flac", "mp3", "ogg", "m4a", "aiff"] {
        clean.push(common::data(&format!("formats/a0009.{ext}")));
    }
    for p in &clean {
        assert!(share(p) < CLIPPED_WARNING / 10.0, "{}: {}", p.display(), share(p));
    }
    // The same speech driven 12 dB into full scale, then that take turned down by 6 dB.
    let dir = common::temp_dir("clipping");
    let speech = load_recording(&common::arctic(), 16_000, 0.0).unwrap().samples;
    let hot: Vec<f32> = speech.iter().map(|v| (v * 4.0).clamp(-1.0, 1.0)).collect();
    let down: Vec<f32> = hot.iter().map(|v| v * 0.5).collect();
    for (name, x) in [("hot.wav", &hot), ("down.wav", &down)] {
        common::write_int_wav(&dir.join(name), 16_000, 1, 16, x);
        let s = share(&dir.join(name));
        assert!(s > 10.0 * CLIPPED_WARNING, "{name}: {s}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Best alignment of `b` against `a` within +-`max_shift` samples: (shift, correlation).
fn aligned(a: &[f32], b: &[f32], max_shift: usize) -> (isize, f64) {
    let corr = |shift: isize| {
        let (mut dot, mut ea, mut eb) = (0.0f64, 0.0f64, 0.0f64);
        for (i, x) in a.iter().enumerate() {
            if let Some(y) =
                b.get((i as isize + shift) as usize).filter(|_| i as isize + shift >= 0)
            {
                dot += *x as f64 * *y as f64;
                ea += *x as f64 * *x as f64;
                eb += *y as f64 * *y as f64;
            }
        }
        dot / (ea * eb).sqrt().max(1e-20)
    };
    let m = max_shift as isize;
    (-m..=m).map(|s| (s, corr(s))).max_by(|x, y| x.1.total_cmp(&y.1)).unwrap()
}

#[test]
fn every_common_format_decodes_to_the_original_and_trains() {
    let original = load_mono(&common::arctic(), 16_000, 0.0).unwrap();
    let dir = common::temp_dir("codecs");
    // (file, lossless, largest codec delay in samples)
    for (file, lossless, delay) in [
        ("a0009.flac", true, 0),
        ("a0009_f64.wav", true, 0),
        ("a0009.aiff", true, 0),
        // Resampled twice (16 -> 44.1 kHz by ffmpeg, back by us): a fraction of a sample off.
        ("a0009_44k_s24_stereo.wav", true, 4),
        ("a0009.mp3", false, 2400),
        ("a0009.ogg", false, 2400),
        ("a0009.m4a", false, 2400),
    ] {
        let path = common::data(&format!("formats/{file}"));
        let x = load_mono(&path, 16_000, 1.0).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert!(
            x.len().abs_diff(original.len()) <= 2 * delay + 8,
            "{file}: {} samples vs {}",
            x.len(),
            original.len()
        );
        if lossless && delay == 0 {
            let err = x.iter().zip(&original).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(err < 1e-4, "{file}: differs by up to {err}");
        } else {
            let (shift, c) = aligned(&original[..32_000], &x, delay.max(4));
            assert!(
                c > if lossless { 0.98 } else { 0.95 },
                "{file}: correlation {c} at shift {shift}"
            );
        }
        let mut o = common::tiny_fit(dir.join(format!("{file}.vrnn")), 3);
        o.inputs = vec![path];
        o.no_sound_report = true;
        let report = vrnn_trainer::fit::fit(&o).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_eq!(report.steps, 3, "{file} trains");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_files_load_what_they_hold_with_a_warning() {
    let arctic = common::arctic();
    for file in ["a0009_truncated.wav", "a0009_truncated.flac"] {
        let path = common::data(&format!("formats/{file}"));
        let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(["match", path.to_str().unwrap(), "--against", arctic.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        assert!(
            stderr.contains(file) && stderr.contains("truncated") && stderr.contains("read "),
            "{file}: {stderr}"
        );
        let x = load_mono(&path, 16_000, 0.0).unwrap();
        let seconds = x.len() as f64 / 16_000.0;
        assert!((1.2..3.0).contains(&seconds), "{file}: {seconds} s read (60 % of 3.1 s)");
    }
}
