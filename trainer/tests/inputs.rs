//! Recordings in every format hound reads load as mono at the model rate; every bad input
//! gives an error that names the file and the reason.

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
    assert!(e.contains("text.wav") && e.contains("cannot read as a WAV file"), "{e}");

    common::write_float_wav(&dir.join("empty.wav"), 16_000, 1, &[]);
    let e = fit_error(&[&p("empty.wav")]);
    assert!(e.contains("empty.wav") && e.contains("empty"), "{e}");

    common::write_float_wav(&dir.join("short.wav"), 16_000, 1, &common::tone(16_000, 0.3));
    let e = fit_error(&[&p("short.wav")]);
    assert!(
        e.contains("short.wav")
            && e.contains("0.30 s is too short")
            && e.contains("at least 1.00 s"),
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

    let e = fit_error(&[&p("missing.wav")]);
    assert!(e.contains("missing.wav"), "{e}");

    std::fs::create_dir_all(dir.join("nothing")).unwrap();
    let e = fit_error(&[&p("nothing")]);
    assert!(e.contains("nothing") && e.contains("no .wav file"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
