//! The standalone app: the same plugin and editor on cpal (ALSA, CoreAudio, WASAPI) or JACK.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait};
use nice_plug::prelude::*;
use vrnn_plugin::VrnnSynth;

/// nice-plug handles SIGINT, but only when no editor window is open; SIGTERM ends the app
/// in every case.
fn exit_on_sigterm() {
    let term = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGTERM, term.clone()) {
        eprintln!("VRNN Synth: cannot handle SIGTERM ({e})");
        return;
    }
    std::thread::spawn(move || loop {
        if term.load(Ordering::Relaxed) {
            eprintln!("VRNN Synth: stopped by SIGTERM");
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

const ALTERNATIVES: &str = "run it with `--backend dummy` (audio is processed on schedule and \
    goes nowhere), choose another backend with `--backend jack` or `--backend alsa`, or render \
    to a file with `trainer sample <model> -o out.wav`";

fn main() {
    exit_on_sigterm();
    let args: Vec<String> = std::env::args().collect();
    let chose_backend = args.iter().any(|a| a.starts_with("--backend"));
    let usable_output = cpal::default_host()
        .default_output_device()
        .is_some_and(|d| d.default_output_config().is_ok());
    if !chose_backend && !usable_output {
        eprintln!("VRNN Synth: this machine has no audio output device, so you will hear nothing. To use it anyway, {ALTERNATIVES}.");
    }
    if !nice_export_standalone_with_args::<VrnnSynth, _>(args) {
        eprintln!("VRNN Synth stopped with the error above. If it is about audio, {ALTERNATIVES}. `--help` lists the device, sample rate and period size options.");
        std::process::exit(1);
    }
}
