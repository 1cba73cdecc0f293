//! The standalone app: the same plugin and editor on cpal (ALSA, CoreAudio, WASAPI) or JACK.

use nice_plug::prelude::*;
use vrnn_plugin::VrnnSynth;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ok = nice_export_standalone_with_args::<VrnnSynth, _>(args);
    if !ok {
        eprintln!(
            "VRNN Synth could not start its audio. If this machine has no audio device, run it with \
             `--backend dummy` (processes audio on schedule, output goes nowhere) or render to a file \
             with `trainer sample <model> -o out.wav`. See --help for the backend, device, sample rate \
             and period size options."
        );
        std::process::exit(1);
    }
}
