//! Everything the audio thread runs: up to MAX_VOICES voices over one model (each a left
//! stream and a second stream with a derived seed for width), the crossfade between
//! models, MIDI voice allocation and each voice's envelope. Allocation-free after
//! construction; nothing here is freed on the audio thread.

use std::sync::Arc;

use crossbeam_channel::Sender;
use vrnn_core::rng::derive_seed;
use vrnn_core::stream::{Schedule, DEFAULT_TEMPERATURE};
use vrnn_core::{Follow, Listener, Model, Stream, StreamError};

use crate::gate::DelayedGate;

/// Crossfade between an old and a new model.
pub const CROSSFADE_SECONDS: f32 = 0.020;
const ATTACK_SECONDS: f32 = 0.005;
const RELEASE_SECONDS: f32 = 0.150;
/// Temperature and noise reach the voices at absolute positions that are multiples of this,
/// so the output never depends on how the host slices blocks.
pub const CONTROL_INTERVAL: u64 = 16;
/// Voices built at activation; the Voices parameter says how many MIDI may use.
pub const MAX_VOICES: usize = 16;

/// One voice's streams: left, and a second voice with a derived seed for width.
struct Streams {
    left: Stream,
    right: Stream,
}

/// One model playing at the host rate: MAX_VOICES voices, and the live input they follow
/// analysed in the model's domain.
pub struct Engine {
    pub model: Arc<Model>,
    pub name: String,
    pub rate: f64,
    voices: Vec<Streams>,
    listener: Listener,
    /// The listener's clock at the current block's first sample.
    block_at: u64,
}

impl Engine {
    pub fn new(
        model: Arc<Model>,
        name: String,
        rate: f64,
        seed: u64,
    ) -> Result<Engine, StreamError> {
        let voices = (0..MAX_VOICES)
            .map(|_| {
                Ok(Streams {
                    left: Stream::new(model.clone(), rate, seed)?,
                    right: Stream::new(model.clone(), rate, derive_seed(seed, 1))?,
                })
            })
            .collect::<Result<_, StreamError>>()?;
        let listener = Listener::new(&model.config, rate)?;
        Ok(Engine { model, name, rate, voices, listener, block_at: 0 })
    }

    /// Takes the block's input (mono, at the host rate, at most `listen::MAX_BLOCK`
    /// samples) before its samples are made.
    fn listen(&mut self, input: &[f32], gate_db: f32) {
        self.listener.set_gate_db(gate_db);
        self.block_at = self.listener.pushed();
        self.listener.push(input);
    }

    /// Forgets the input heard so far.
    fn reset_input(&mut self) {
        self.listener.reset();
        self.block_at = 0;
    }

    /// Host samples from the input to the output when the voices follow it.
    pub fn follow_latency(&self) -> usize {
        self.voices[0].left.follow_latency(&self.listener)
    }

    fn restart(&mut self, voice: usize, seed: u64) {
        let v = &mut self.voices[voice];
        v.left.reset(seed);
        v.right.reset(derive_seed(seed, 1));
    }

    /// The controls to every voice, each voice's temperature moved by `temperature_change`
    /// of its index (polyphonic modulation; 0 for the others).
    fn set_controls(&mut self, c: &Controls, temperature_change: impl Fn(usize) -> f32) {
        for (i, v) in self.voices.iter_mut().enumerate() {
            let temperature = (c.temperature + temperature_change(i)).max(0.0);
            for s in [&mut v.left, &mut v.right] {
                s.set_temperature(temperature);
                s.set_noise(c.noise);
                s.set_formant(c.formant);
            }
        }
    }

    /// One voice's temperature (a note's modulation arriving with it), until the next
    /// `set_controls`.
    fn set_voice_temperature(&mut self, voice: usize, temperature: f32) {
        let v = &mut self.voices[voice];
        v.left.set_temperature(temperature);
        v.right.set_temperature(temperature);
    }

    /// Plays `note` (None: the model's own pitch) bent by the ratio `bend` on `voice`.
    fn set_note(&mut self, voice: usize, note: Option<u8>, bend: f32) {
        let ratio = self.pitch(note, bend);
        let v = &mut self.voices[voice];
        v.left.set_pitch(ratio);
        v.right.set_pitch(ratio);
    }

    fn pitch(&self, note: Option<u8>, bend: f32) -> f64 {
        note.map_or(1.0, |n| self.model.config.note_ratio(n)) * bend as f64
    }

    pub fn latency(&self) -> usize {
        self.voices[0].left.latency()
    }

    pub fn schedule(&self) -> Schedule {
        self.voices[0].left.schedule()
    }

    pub fn set_schedule(&mut self, schedule: Schedule) {
        for v in &mut self.voices {
            v.left.set_schedule(schedule);
            v.right.set_schedule(schedule);
        }
    }

    fn nonfinite(&self) -> u64 {
        let per = |v: &Streams| {
            v.left.generator().nonfinite_frames() + v.right.generator().nonfinite_frames()
        };
        self.voices.iter().map(per).sum()
    }

    /// The next sample of `voice`'s pair: mono, or with the right channel blended toward
    /// its second stream.
    /// `follow` of the input, `offset` samples into the block.
    fn voice_pair(&mut self, voice: usize, c: &Controls, offset: u64) -> (f32, f32) {
        let Engine { voices, listener, block_at, .. } = self;
        let at = *block_at + offset;
        let follow = (c.follow > 0.0).then_some(Follow { input: listener, amount: c.follow, at });
        let (wide, width) = (c.width > 0.0, c.width);
        let v = &mut voices[voice];
        let l = v.left.next_sample_following(follow);
        if wide {
            let r = v.right.next_sample_following(follow);
            (l, l + width * (r - l))
        } else {
            (l, l)
        }
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
    /// How far the voices follow the input (0: they improvise).
    pub follow: f32,
}

/// A note as the host names it: the key, its channel, and the host's id for the note
/// (CLAP note ids; None where the host gives none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note {
    pub key: u8,
    pub channel: u8,
    pub id: Option<i32>,
}

impl Note {
    /// A note without channel or id (plain MIDI on channel 1).
    pub fn key(key: u8) -> Note {
        Note { key, channel: 0, id: None }
    }
}

/// The host's note ids kept apart, or a key for every note with that key.
fn matches(playing: Note, key: Option<u8>, id: Option<i32>) -> bool {
    match (id, playing.id) {
        (Some(id), Some(own)) => id == own,
        _ => key.is_none_or(|k| k == playing.key),
    }
}

/// What one voice is playing.
#[derive(Clone)]
struct Voice {
    note: Option<u8>,
    /// The host's note this voice sounds, until it has ended (released to silence or
    /// stolen), when the host is told (`Player::take_ended`).
    sounding: Option<Note>,
    /// Polyphonic modulation of temperature: the normalised offset the host sent, and the
    /// change of temperature it makes.
    temperature_offset: Option<(f32, f32)>,
    seed: u64,
    /// The gate, delayed to when the sound it belongs to comes out.
    gate: DelayedGate,
    level: f32,
    velocity_gain: f32,
    /// Released while the sustain pedal was down.
    held: bool,
    right_on: bool,
    /// The note-on count when it started (stealing takes the oldest), and the sample.
    started: u64,
    onset: u64,
}

impl Voice {
    fn new(seed: u64) -> Voice {
        Voice {
            note: None,
            sounding: None,
            temperature_offset: None,
            seed,
            gate: DelayedGate::new(false),
            level: 0.0,
            velocity_gain: 1.0,
            held: false,
            right_on: false,
            started: 0,
            onset: 0,
        }
    }

    fn idle(&self) -> bool {
        self.note.is_none() && self.level == 0.0 && !self.gate.waiting()
    }
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
    voices: Vec<Voice>,
    /// How many voices MIDI notes may use (the Voices parameter).
    polyphony: usize,
    notes_played: u64,
    /// Pitch bend as a frequency ratio.
    bend: f32,
    sustain: bool,
    attack_step: f32,
    release_step: f32,
    position: u64,
    /// `position` at the current block's first sample.
    block_position: u64,
    /// The temperature the voices last received (at a control interval).
    temperature: f32,
    /// Host samples per model frame, for `frames`.
    frame_samples: f64,
    /// Notes that ended since the last `take_ended` (room for every voice twice, so
    /// pushing never allocates).
    ended: Vec<Note>,
}

impl Player {
    pub fn new(engine: Box<Engine>, drop_tx: Sender<Box<Engine>>, seed: u64, midi: bool) -> Player {
        let rate = engine.rate as f32;
        let c = &engine.model.config;
        let frame_samples = c.frame_size as f64 * engine.rate / c.sample_rate as f64;
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
            voices: vec![Voice::new(seed); MAX_VOICES],
            polyphony: MAX_VOICES,
            notes_played: 0,
            bend: 1.0,
            sustain: false,
            attack_step: 1.0 / (ATTACK_SECONDS * rate),
            release_step: 1.0 / (RELEASE_SECONDS * rate),
            position: 0,
            block_position: 0,
            temperature: DEFAULT_TEMPERATURE,
            frame_samples,
            ended: Vec::with_capacity(2 * MAX_VOICES),
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

    /// Frames of audio played (host time in model frames), whatever the voices did.
    pub fn frames(&self) -> u64 {
        (self.position as f64 / self.frame_samples) as u64
    }

    pub fn nonfinite(&self) -> u64 {
        self.current.nonfinite()
    }

    /// The paper's delta_t of the loudest voice's last frame.
    pub fn latent_delta(&self) -> f32 {
        let loudest = (0..MAX_VOICES)
            .max_by(|a, b| self.voices[*a].level.total_cmp(&self.voices[*b].level))
            .unwrap_or(0);
        self.current.voices[loudest].left.generator().latent_delta()
    }

    /// Back to the start: the same seed and controls replay the same audio. Free mode
    /// plays voice 0 from the seed; MIDI starts silent.
    pub fn reset(&mut self, seed: u64, midi: bool) {
        self.seed = seed;
        self.midi = midi;
        self.bend = 1.0;
        self.sustain = false;
        self.notes_played = 0;
        for v in 0..MAX_VOICES {
            self.voices[v] = Voice::new(seed);
            self.current.restart(v, seed);
            self.current.set_note(v, None, 1.0);
        }
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
        self.current.reset_input();
        self.ended.clear();
        self.free_voice(!midi);
        self.position = 0;
        self.block_position = 0;
    }

    /// Free mode's voice: voice 0, open and at full level, or closed.
    fn free_voice(&mut self, on: bool) {
        let v = &mut self.voices[0];
        v.gate.set_now(on);
        v.level = if on { 1.0 } else { 0.0 };
    }

    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
        if !self.midi {
            self.voices[0].seed = seed;
            self.current.restart(0, seed);
            self.current.set_note(0, None, self.bend);
        }
    }

    pub fn set_midi(&mut self, midi: bool) {
        if midi != self.midi {
            self.midi = midi;
            for v in &mut self.voices {
                v.note = None;
                v.gate.set_now(false);
                v.velocity_gain = 1.0;
                v.held = false;
            }
            // Going to MIDI, the free voice releases over its envelope; going free, the
            // notes release and voice 0 plays on at the model's own pitch (its note has
            // ended for the host).
            if !midi {
                self.end(0);
                self.current.set_note(0, None, self.bend);
                self.free_voice(true);
            }
        }
    }

    pub fn polyphony(&self) -> usize {
        self.polyphony
    }

    /// How many voices notes may use, 1..=MAX_VOICES; voices above it finish their notes.
    pub fn set_polyphony(&mut self, voices: usize) {
        self.polyphony = voices.clamp(1, MAX_VOICES);
    }

    /// The voice a new note takes: an idle one, else the oldest released one, else the
    /// oldest playing one.
    fn allocate(&self) -> usize {
        let pool = 0..self.polyphony;
        let oldest = |released: bool| {
            pool.clone()
                .filter(|&v| !released || self.voices[v].note.is_none())
                .min_by_key(|&v| self.voices[v].started)
        };
        pool.clone()
            .find(|&v| self.voices[v].idle())
            .or_else(|| oldest(true))
            .or_else(|| oldest(false))
            .unwrap_or(0)
    }

    /// Tells the host (through `take_ended`) that `voice`'s note has ended.
    fn end(&mut self, voice: usize) {
        if let Some(note) = self.voices[voice].sounding.take() {
            if self.ended.len() < self.ended.capacity() {
                self.ended.push(note);
            }
        }
    }

    /// Hands each note that has ended since the last call to `f` (CLAP's note-end events,
    /// so that the host frees its modulation of the note).
    pub fn take_ended(&mut self, mut f: impl FnMut(Note)) {
        self.ended.drain(..).for_each(&mut f);
    }

    /// A note-on starts a voice at the note's pitch (an hnm model sings the note with its
    /// formants in place; other domains play it by varispeed), at the level
    /// `velocity_gain`. With one voice every note replays the Seed's voice; with more, each
    /// note has its own seed, from the Seed, the note and how many notes came before, so
    /// that a bounce replays exactly.
    pub fn note_on(&mut self, played: Note, velocity_gain: f32) {
        if !self.midi {
            return;
        }
        let note = played.key;
        let v = self.allocate();
        self.end(v);
        self.notes_played += 1;
        let seed = if self.polyphony == 1 {
            self.seed
        } else {
            derive_seed(derive_seed(self.seed, note as u64), self.notes_played)
        };
        let at = self.position + self.current.latency() as u64;
        let voice = &mut self.voices[v];
        voice.note = Some(note);
        voice.sounding = Some(played);
        voice.temperature_offset = None;
        voice.seed = seed;
        voice.velocity_gain = velocity_gain;
        voice.held = false;
        voice.right_on = false;
        voice.started = self.notes_played;
        voice.onset = self.position;
        voice.gate.schedule(at, true);
        self.current.restart(v, seed);
        self.current.set_note(v, Some(note), self.bend);
    }

    /// Releases the voices playing the host's note `id`, or where the host gives no id,
    /// `key` (every note for a wildcard `None`); with the sustain pedal down, when the pedal
    /// comes up.
    pub fn note_off(&mut self, key: Option<u8>, id: Option<i32>) {
        let at = self.position + self.current.latency() as u64;
        for v in &mut self.voices {
            let playing = v.sounding.filter(|_| v.note.is_some());
            if playing.is_some_and(|n| matches(n, key, id)) {
                if self.sustain {
                    v.held = true;
                } else {
                    v.note = None;
                    v.gate.schedule(at, false);
                }
            }
        }
    }

    /// The sustain pedal (CC64): lifting it releases the notes let go while it was down.
    pub fn set_sustain(&mut self, down: bool) {
        self.sustain = down;
        if !down {
            let at = self.position + self.current.latency() as u64;
            for v in self.voices.iter_mut().filter(|v| v.held) {
                v.held = false;
                v.note = None;
                v.gate.schedule(at, false);
            }
        }
    }

    /// Polyphonic modulation of temperature for the host's note `id`: `offset` is the
    /// host's normalised offset, `change` the temperature it adds to the parameter's.
    /// Modulation sent with the note-on (at the same sample) counts from the note's first
    /// step: the voice starts again at its temperature.
    pub fn modulate_temperature(&mut self, id: i32, offset: f32, change: f32) {
        for v in 0..MAX_VOICES {
            let voice = &mut self.voices[v];
            if voice.sounding.is_some_and(|n| n.id == Some(id)) {
                voice.temperature_offset = Some((offset, change));
                if voice.onset == self.position && voice.note.is_some() {
                    let (seed, note) = (voice.seed, voice.note);
                    let t = (self.temperature + change).max(0.0);
                    self.current.set_voice_temperature(v, t);
                    self.current.restart(v, seed);
                    self.current.set_note(v, note, self.bend);
                }
            }
        }
    }

    /// The Temperature parameter moved: `change` gives each modulated voice's new change
    /// from its normalised offset (the parameter's range clamps it differently).
    pub fn remap_temperature(&mut self, change: impl Fn(f32) -> f32) {
        for v in &mut self.voices {
            if let Some((offset, _)) = v.temperature_offset {
                v.temperature_offset = Some((offset, change(offset)));
            }
        }
    }

    /// Pitch bend as a frequency ratio, every voice, either mode.
    pub fn set_bend(&mut self, bend: f32) {
        if bend != self.bend {
            self.bend = bend;
            for v in 0..MAX_VOICES {
                let note = self.voices[v].note;
                self.current.set_note(v, note, bend);
                if let Some(old) = &mut self.outgoing {
                    old.set_note(v, note, bend);
                }
            }
        }
    }

    /// Switches when the steps run (the Latency parameter); the voices restart from their
    /// seeds.
    pub fn set_schedule(&mut self, schedule: Schedule) {
        // Each stream restarts itself from its own seed; the notes keep their pitch.
        self.current.set_schedule(schedule);
        for v in 0..MAX_VOICES {
            self.current.set_note(v, self.voices[v].note, self.bend);
        }
        if let Some(old) = self.outgoing.take() {
            self.retire(old);
        }
    }

    fn restart_voices_on_current(&mut self) {
        for v in 0..MAX_VOICES {
            let voice = &mut self.voices[v];
            voice.right_on = false;
            let (seed, note) = (voice.seed, voice.note);
            self.current.restart(v, seed);
            self.current.set_note(v, note, self.bend);
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
        let old = std::mem::replace(&mut self.current, engine);
        self.restart_voices_on_current();
        if let Some(older) = self.outgoing.replace(old) {
            self.retire(older);
        }
        self.hold_left = self.current.latency();
        self.fade_left = self.fade_len;
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

    /// The block's input (mono, at the host rate, at most `listen::MAX_BLOCK` samples;
    /// silence without an input), before its samples: what the voices follow.
    pub fn listen(&mut self, input: &[f32], gate_db: f32) {
        self.block_position = self.position;
        self.current.listen(input, gate_db);
        if let Some(old) = &mut self.outgoing {
            old.listen(input, gate_db);
        }
    }

    /// The next stereo sample.
    pub fn next(&mut self, c: &Controls) -> (f32, f32) {
        if self.position.is_multiple_of(CONTROL_INTERVAL) {
            self.temperature = c.temperature;
            let voices = &self.voices;
            let change = |v: usize| voices[v].temperature_offset.map_or(0.0, |(_, change)| change);
            self.current.set_controls(c, change);
            if let Some(old) = &mut self.outgoing {
                old.set_controls(c, change);
            }
            if let Some(e) = self.retired.take() {
                self.retire(e);
            }
        }
        self.position += 1;
        let wide = c.width > 0.0;
        let fade = self.outgoing.is_some().then(|| self.fade_left as f32 / self.fade_len as f32);
        let (mut l, mut r) = (0.0, 0.0);
        for v in 0..MAX_VOICES {
            let voice = &mut self.voices[v];
            let gate = voice.gate.at(self.position);
            voice.level = if gate {
                (voice.level + self.attack_step).min(1.0)
            } else {
                (voice.level - self.release_step).max(0.0)
            };
            // Silent and idle: the voice waits. A pending note-on keeps it running through
            // its look-ahead, so that its sound and the gate arrive together.
            if voice.level == 0.0 && !voice.gate.waiting() {
                if voice.note.is_none() {
                    self.end(v);
                }
                continue;
            }
            if wide && !voice.right_on {
                let (seed, note) = (voice.seed, voice.note);
                let ratio = self.current.pitch(note, self.bend);
                let right = &mut self.current.voices[v].right;
                right.reset(derive_seed(seed, 1));
                right.set_pitch(ratio);
            }
            self.voices[v].right_on = wide;
            let offset = self.position - 1 - self.block_position;
            let (mut vl, mut vr) = self.current.voice_pair(v, c, offset);
            if let (Some(old), Some(x)) = (&mut self.outgoing, fade) {
                let (ol, or) = old.voice_pair(v, c, offset);
                vl = vl * (1.0 - x) + ol * x;
                vr = vr * (1.0 - x) + or * x;
            }
            let voice = &self.voices[v];
            let g = voice.level * if self.midi { voice.velocity_gain } else { 1.0 };
            l += vl * g;
            r += vr * g;
        }
        if self.outgoing.is_some() {
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
        (l * c.gain, r * c.gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults, following the input by `follow`.
    fn controls(follow: f32) -> Controls {
        Controls { temperature: 1.0, noise: 1.0, gain: 1.0, width: 0.0, formant: 1.0, follow }
    }

    fn play(voices: usize, notes: &[(usize, u8)], seconds: f32) -> Vec<f32> {
        let model = Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()));
        let engine = Engine::new(model, "built-in".into(), 48_000.0, 0).unwrap();
        let (tx, _rx) = crossbeam_channel::unbounded();
        let mut p = Player::new(Box::new(engine), tx, 0, true);
        p.set_polyphony(voices);
        let c = controls(0.0);
        (0..(seconds * 48_000.0) as usize)
            .map(|i| {
                if let Some((_, n)) = notes.iter().find(|(at, _)| *at == i) {
                    p.note_on(Note::key(*n), 1.0);
                }
                p.next(&c).0
            })
            .collect()
    }

    /// Free mode following a tone in blocks of 256 from the start of `p`.
    fn follow_tone(p: &mut Player, seconds: f32) -> Vec<f32> {
        let c = controls(1.0);
        let tone: Vec<f32> = (0..256).map(|i| (i as f32 * 0.1).sin() * 0.3).collect();
        let mut out = Vec::new();
        for _ in 0..(seconds * 48_000.0 / 256.0) as usize {
            p.listen(&tone, -50.0);
            out.extend((0..256).map(|_| p.next(&c).0));
        }
        out
    }

    #[test]
    fn a_reset_forgets_the_input_so_a_bounce_replays() {
        let model = Arc::new(Model::from_file(&vrnn_core::builtin::builtin_voice().unwrap()));
        let engine = Engine::new(model, "built-in".into(), 48_000.0, 0).unwrap();
        let (tx, _rx) = crossbeam_channel::unbounded();
        let mut p = Player::new(Box::new(engine), tx, 0, false);
        let first = follow_tone(&mut p, 0.5);
        p.reset(0, false);
        assert!(follow_tone(&mut p, 0.5) == first, "the same input after a reset plays the same");
    }

    #[test]
    fn one_voice_replays_the_seed_and_more_give_each_note_its_own() {
        let mono = play(1, &[(0, 48)], 1.5);
        let poly = play(8, &[(0, 48)], 1.5);
        assert!(mono.iter().any(|v| *v != 0.0) && poly.iter().any(|v| *v != 0.0));
        assert!(mono != poly, "a polyphonic note has its own seed");
    }
}
