//! Everything the audio thread runs: two voices (left, and a second voice with a derived
//! seed for width) over one model, the crossfade between models, and the MIDI envelope.
//! Allocation-free after construction; nothing here is freed on the audio thread.

use std::sync::Arc;

use crossbeam_channel::Sender;
use vrnn_core::rng::derive_seed;
use vrnn_core::stream::Schedule;
use vrnn_core::{Model, Stream, StreamError};

use crate::gate::DelayedGate;

/// Crossfade between an old and a new model.
pub const CROSSFADE_SECONDS: f32 = 0.020;
const ATTACK_SECONDS: f32 = 0.005;
const RELEASE_SECONDS: f32 = 0.150;
/// Temperature and noise reach the voices at absolute positions that are multiples of this,
/// so the output never depends on how the host slices blocks.
pub const CONTROL_INTERVAL: u64 = 16;

/// One model playing at the host rate: a left voice and a right voice.
pub struct Engine {
    pub model: Arc<Model>,
    pub name: String,
    pub rate: f64,
    left: Stream,
    right: Stream,
}

impl Engine {
    pub fn new(
        model: Arc<Model>,
        name: String,
        rate: f64,
        seed: u64,
    ) -> Result<Engine, StreamError> {
        let left = Stream::new(model.clone(), rate, seed)?;
        let right = Stream::new(model.clone(), rate, derive_seed(seed, 1))?;
        Ok(Engine { model, name, rate, left, right })
    }

    fn restart(&mut self, seed: u64) {
        self.left.reset(seed);
        self.right.reset(derive_seed(seed, 1));
    }

    fn set_controls(&mut self, c: &Controls) {
        for s in [&mut self.left, &mut self.right] {
            s.set_temperature(c.temperature);
            s.set_noise(c.noise);
            s.set_formant(c.formant);
        }
    }

    /// Plays `note` (None: the model's own pitch) bent by the ratio `bend`.
    fn set_note(&mut self, note: Option<u8>, bend: f32) {
        let ratio = self.pitch(note, bend);
        self.left.set_pitch(ratio);
        self.right.set_pitch(ratio);
    }

    fn pitch(&self, note: Option<u8>, bend: f32) -> f64 {
        note.map_or(1.0, |n| self.model.config.note_ratio(n)) * bend as f64
    }

    pub fn latency(&self) -> usize {
        self.left.latency()
    }

    pub fn schedule(&self) -> Schedule {
        self.left.schedule()
    }

    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.left.set_schedule(schedule);
        self.right.set_schedule(schedule);
    }

    fn frames(&self) -> u64 {
        self.left.frames()
    }

    fn nonfinite(&self) -> u64 {
        self.left.generator().nonfinite_frames() + self.right.generator().nonfinite_frames()
    }
}

/// Per-sample control values, already smoothed.
#[derive(Clone, Copy, Debug)]
pub struct Controls {
    pub temperature: f32,
    pub noise: f32,
    /// Linear gain.
    pub gain: f32,
    pub width: f32,
    /// Ratio of the spectral envelope's shift (hnm models).
    pub formant: f32,
}

pub struct Player {
    current: Box<Engine>,
    outgoing: Option<Box<Engine>>,
    /// Samples the outgoing engine still plays alone: the new one's latency, during which
    /// it is silent, so that the crossfade meets its sound rather than its silence.
    hold_left: usize,
    fade_left: usize,
    fade_len: usize,
    /// Engines waiting to go back to the thread that drops them.
    retired: Option<Box<Engine>>,
    drop_tx: Sender<Box<Engine>>,
    seed: u64,
    midi: bool,
    right_on: bool,
    note: Option<u8>,
    /// The MIDI gate, delayed to when the sound it belongs to comes out.
    gate: DelayedGate,
    level: f32,
    /// The playing note's velocity as a gain.
    velocity_gain: f32,
    /// Pitch bend as a frequency ratio.
    bend: f32,
    /// The sustain pedal is down, and whether a note-off came while it was.
    sustain: bool,
    released_under_sustain: bool,
    attack_step: f32,
    release_step: f32,
    position: u64,
}

impl Player {
    pub fn new(engine: Box<Engine>, drop_tx: Sender<Box<Engine>>, seed: u64, midi: bool) -> Player {
        let rate = engine.rate as f32;
        let mut p = Player {
            current: engine,
            outgoing: None,
            hold_left: 0,
            fade_left: 0,
            fade_len: ((CROSSFADE_SECONDS * rate) as usize).max(1),
            retired: None,
            drop_tx,
            seed,
            midi,
            right_on: false,
            note: None,
            gate: DelayedGate::new(!midi),
            level: 0.0,
            velocity_gain: 1.0,
            bend: 1.0,
            sustain: false,
            released_under_sustain: false,
            attack_step: 1.0 / (ATTACK_SECONDS * rate),
            release_step: 1.0 / (RELEASE_SECONDS * rate),
            position: 0,
        };
        p.reset(seed, midi);
        p
    }

    pub fn engine(&self) -> &Engine {
        &self.current
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn is_midi(&self) -> bool {
        self.midi
    }

    /// Frames the current model's left voice has generated.
    pub fn frames(&self) -> u64 {
        self.current.frames()
    }

    pub fn nonfinite(&self) -> u64 {
        self.current.nonfinite()
    }

    /// The paper's delta_t of the current left voice's last frame.
    pub fn latent_delta(&self) -> f32 {
        self.current.left.generator().latent_delta()
    }

    /// Back to the start: the same seed and controls replay the same audio.
    pub fn reset(&mut self, seed: u64, midi: bool) {
        self.seed = seed;
        self.midi = midi;
        self.current.restart(seed);
        self.bend = 1.0;
        self.current.set_note(None, 1.0);
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        self.note = None;
        self.velocity_gain = 1.0;
        self.sustain = false;
        self.released_under_sustain = false;
        self.gate.set_now(!midi);
        self.level = if midi { 0.0 } else { 1.0 };
        self.right_on = false;
        self.position = 0;
    }

    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
        self.current.restart(seed);
        self.current.set_note(self.note, self.bend);
    }

    pub fn set_midi(&mut self, midi: bool) {
        if midi != self.midi {
            self.midi = midi;
            self.note = None;
            self.gate.set_now(!midi);
            self.velocity_gain = 1.0;
            if !midi {
                self.level = 1.0;
                self.current.set_note(None, self.bend);
            }
        }
    }

    /// A note-on restarts the voice from the seed at the note's pitch (an hnm model sings
    /// the note with its formants in place; other domains play it by varispeed), at the
    /// level `velocity_gain`.
    pub fn note_on(&mut self, note: u8, velocity_gain: f32) {
        if !self.midi {
            return;
        }
        self.note = Some(note);
        self.velocity_gain = velocity_gain;
        self.released_under_sustain = false;
        self.current.restart(self.seed);
        self.current.set_note(Some(note), self.bend);
        self.right_on = false;
        self.gate.schedule(self.position + self.current.latency() as u64, true);
    }

    /// Releases the playing note (any note for a wildcard `None`); with the sustain pedal
    /// down, when the pedal comes up.
    pub fn note_off(&mut self, note: Option<u8>) {
        if self.note.is_some() && (note.is_none() || self.note == note) {
            if self.sustain {
                self.released_under_sustain = true;
            } else {
                self.release();
            }
        }
    }

    fn release(&mut self) {
        self.note = None;
        self.released_under_sustain = false;
        self.gate.schedule(self.position + self.current.latency() as u64, false);
    }

    /// The sustain pedal (CC64).
    pub fn set_sustain(&mut self, down: bool) {
        self.sustain = down;
        if !down && self.released_under_sustain {
            self.release();
        }
    }

    /// Switches when the steps run (the Latency parameter); the voice restarts from its seed.
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.current.set_schedule(schedule);
        self.current.restart(self.seed);
        self.current.set_note(self.note, self.bend);
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        self.right_on = false;
    }

    /// Pitch bend as a frequency ratio, in either mode.
    pub fn set_bend(&mut self, bend: f32) {
        if bend != self.bend {
            self.bend = bend;
            self.current.set_note(self.note, bend);
            if let Some(old) = &mut self.outgoing {
                old.set_note(self.note, bend);
            }
        }
    }

    /// Starts a crossfade to a new model built for this host rate. An engine for another
    /// rate (the host changed it meanwhile) is not played.
    pub fn swap(&mut self, mut engine: Box<Engine>) {
        if engine.rate != self.current.rate {
            self.retire(engine);
            return;
        }
        engine.set_schedule(self.current.schedule());
        engine.restart(self.seed);
        engine.set_note(self.note, self.bend);
        let old = std::mem::replace(&mut self.current, engine);
        if let Some(older) = self.outgoing.replace(old) {
            self.retire(older);
        }
        self.hold_left = self.current.latency();
        self.fade_left = self.fade_len;
        self.right_on = false;
    }

    fn retire(&mut self, engine: Box<Engine>) {
        if let Some(waiting) = self.retired.take() {
            // Still queued from before: try again, keep it if the queue is full.
            if let Err(e) = self.drop_tx.try_send(waiting) {
                self.retired = Some(e.into_inner());
            }
        }
        match self.drop_tx.try_send(engine) {
            Ok(()) => {}
            Err(e) => {
                // One waits here for the next try. A second one at the same moment means the
                // dropper thread is gone: leaking it is safer than freeing on this thread.
                if self.retired.is_none() {
                    self.retired = Some(e.into_inner());
                } else {
                    std::mem::forget(e.into_inner());
                }
            }
        }
    }

    /// The next stereo sample.
    pub fn next(&mut self, c: &Controls) -> (f32, f32) {
        if self.position.is_multiple_of(CONTROL_INTERVAL) {
            self.current.set_controls(c);
            if let Some(old) = &mut self.outgoing {
                old.set_controls(c);
            }
            if let Some(e) = self.retired.take() {
                self.retire(e);
            }
        }
        self.position += 1;
        let gate = !self.midi || self.gate.at(self.position);
        self.level = if gate {
            (self.level + self.attack_step).min(1.0)
        } else {
            (self.level - self.release_step).max(0.0)
        };
        // Silent and idle: the voice waits. A pending note-on keeps it running through its
        // look-ahead, so that its sound and the gate arrive together.
        if self.level == 0.0 && self.outgoing.is_none() && !self.gate.waiting() {
            return (0.0, 0.0);
        }
        let wide = c.width > 0.0;
        if wide && !self.right_on {
            self.current.right.reset(derive_seed(self.seed, 1));
            let ratio = self.current.pitch(self.note, self.bend);
            self.current.right.set_pitch(ratio);
        }
        self.right_on = wide;
        let (mut l, mut r) = voice_pair(&mut self.current, wide, c.width);
        if let Some(old) = &mut self.outgoing {
            let (ol, or) = voice_pair(old, wide, c.width);
            let x = self.fade_left as f32 / self.fade_len as f32;
            l = l * (1.0 - x) + ol * x;
            r = r * (1.0 - x) + or * x;
            if self.hold_left > 0 {
                self.hold_left -= 1;
            } else {
                self.fade_left -= 1;
            }
            if self.fade_left == 0 {
                if let Some(old) = self.outgoing.take() {
                    self.retire(old);
                }
            }
        }
        let g = c.gain * self.level * if self.midi { self.velocity_gain } else { 1.0 };
        (l * g, r * g)
    }
}

fn voice_pair(e: &mut Engine, wide: bool, width: f32) -> (f32, f32) {
    let l = e.left.next_sample();
    if wide {
        let r = e.right.next_sample();
        (l, l + width * (r - l))
    } else {
        (l, l)
    }
}
