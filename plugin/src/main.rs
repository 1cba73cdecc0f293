//! The standalone app: the same plugin and editor on cpal (ALSA, CoreAudio, WASAPI) or JACK.

use nice_plug::prelude::*;
use vrnn_plugin::VrnnSynth;

fn main() {
    // nice-plug's own signal handler cannot close an open editor window, so SIGINT and SIGTERM
    // end the app here, with or without a window.
    if let Err(e) = ctrlc::set_handler(|| {
        eprintln!("VRNN Synth: stopped by a signal");
        std::process::exit(0);
    }) {
        eprintln!("VRNN Synth: cannot handle SIGINT/SIGTERM ({e}); close the window to quit");
    }
    let args: Vec<String> = std::env::args().collect();
    if !nice_export_standalone_with_args::<VrnnSynth, _>(args) {
        eprintln!(
            "VRNN Synth stopped with the error above. Without an audio device, run it with \
             `--backend dummy` (audio is processed on schedule and goes nowhere), choose another \
             backend with `--backend jack` or `--backend alsa`, or render to a file with \
             `trainer sample <model> -o out.wav`. `--help` lists the device, sample rate and \
             period size options."
        );
        std::process::exit(1);
    }
}
