//! VRNN Synth: a CLAP/VST3 instrument (and standalone app) that plays a VRNN model's
//! generative recurrence frame by frame in the audio thread.

pub mod editor;
pub mod engine;
mod gate;
mod input;
mod knob;
mod limiter;
pub mod loader;
pub mod params;
pub mod telemetry;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use engine::{Controls, Engine, Note, Player};
use input::Input;
use limiter::Limiter;
use loader::{Shared, Task};
use params::{Mode, SynthParams};
use telemetry::{TelemetryRx, TelemetryTx, SCOPE_DECIMATION};
use vrnn_core::listen::MAX_BLOCK;

const MOD_WHEEL: u8 = 1;
const SUSTAIN_PEDAL: u8 = 64;

pub struct VrnnSynth {
    params: Arc<SynthParams>,
    shared: Arc<Shared>,
    editor_state: Arc<EguiEditorState>,
    player: Option<Player>,
    engine_tx: Sender<Box<Engine>>,
    engine_rx: Receiver<Box<Engine>>,
    drop_tx: Sender<Box<Engine>>,
    telemetry_tx: TelemetryTx,
    telemetry_rx: Arc<Mutex<TelemetryRx>>,
    scope_peak: f32,
    scope_count: usize,
    last_frame: u64,
    /// Processing time since the last callback that completed a frame.
    busy_us: f32,
    /// The mod wheel (CC1), 0..=1: added to the temperature.
    mod_wheel: f32,
    limiter: Limiter,
    input: Input,
    /// Whether the active layout has a main input (the effect layout) to follow.
    main_input: bool,
    /// Whether Follow was above 0 when the latency was last reported.
    following: bool,
}

impl Default for VrnnSynth {
    fn default() -> Self {
        let (engine_tx, engine_rx) = crossbeam_channel::bounded(4);
        let (telemetry_tx, telemetry_rx) = telemetry::channel();
        let params = Arc::new(SynthParams::default());
        let shared = Arc::new(Shared::new());
        params.model_path.on_restore(loader::restore_hook(shared.clone(), engine_tx.clone()));
        VrnnSynth {
            params,
            shared,
            editor_state: EguiEditorState::from_size(LogicalSize::new(760.0, 640.0), 1.0),
            player: None,
            engine_tx,
            engine_rx,
            drop_tx: loader::spawn_dropper(),
            telemetry_tx,
            telemetry_rx: Arc::new(Mutex::new(telemetry_rx)),
            scope_peak: 0.0,
            scope_count: 0,
            last_frame: 0,
            busy_us: 0.0,
            mod_wheel: 0.0,
            limiter: Limiter::new(48_000.0),
            input: Input::new(0, 0),
            main_input: false,
            following: false,
        }
    }
}

impl VrnnSynth {
    fn seed(&self) -> u64 {
        self.params.seed.value() as u64
    }

    fn midi(&self) -> bool {
        self.params.mode.value() == Mode::Midi
    }

    /// What the host compensates: input to output while the voices follow the input,
    /// note to sound otherwise. The dry signal is delayed by the same.
    fn latency_of(&mut self, engine: &Engine) -> u32 {
        self.following = self.params.follow.value() > 0.0;
        let latency = if self.following { engine.follow_latency() } else { engine.latency() };
        self.input.set_delay(latency);
        self.shared.meters.latency.store(latency as u32, std::sync::atomic::Ordering::Relaxed);
        latency as u32
    }

    /// Telemetry for the editor: scope peaks and the latent trajectory, best effort.
    fn report(&mut self, l: f32) {
        self.scope_peak = self.scope_peak.max(l.abs());
        self.scope_count += 1;
        if self.scope_count == SCOPE_DECIMATION {
            let _ = self.telemetry_tx.scope.push(self.scope_peak);
            self.scope_peak = 0.0;
            self.scope_count = 0;
        }
    }
}

impl Plugin for VrnnSynth {
    const NAME: &'static str = "VRNN Synth";
    const VENDOR: &'static str = "VRNN Synth";
    const URL: &'static str = "https://github.com/vrnn-synth/vrnn-synth";
    const EMAIL: &'static str = "dev@vrnn-synth.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // The instrument with a sidechain input to follow, the effect (a main input), and the
    // instrument alone (for hosts that offer no sidechain).
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[new_nonzero_u32(2)],
            names: PortNames { aux_inputs: &["Follow"], ..PortNames::const_default() },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(1),
            aux_input_ports: &[new_nonzero_u32(1)],
            names: PortNames { aux_inputs: &["Follow"], ..PortNames::const_default() },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = nice_plug_egui::EguiEditor<editor::EditorApp>;
    type SysExMessage = ();
    type BackgroundTask = Task;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn task_executor(&mut self) -> TaskExecutor<Self> {
        loader::executor(self.shared.clone(), self.params.clone(), self.engine_tx.clone())
    }

    fn editor(&mut self, async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.editor_state.clone(),
            self.params.clone(),
            self.shared.clone(),
            self.telemetry_rx.clone(),
            async_executor,
        )
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let rate = config.sample_rate as f64;
        let selected = self.shared.select_persisted(&self.params);
        let mut engine =
            match Engine::new(selected.model.clone(), selected.name.clone(), rate, self.seed()) {
                Ok(e) => e,
                Err(e) => {
                    self.shared.set_status(format!("cannot run at {rate} Hz: {e}"));
                    return false;
                }
            };
        engine.set_schedule(self.params.latency.value().schedule());
        self.main_input = layout.main_input_channels.is_some();
        // Room for the longest latency: following, under whichever schedule is switched to
        // (Smooth adds a frame, less than the note latency added here).
        let max_delay = engine.follow_latency() + engine.latency();
        self.input = Input::new(config.max_buffer_size as usize, max_delay);
        let latency = self.latency_of(&engine);
        self.shared.meters.sample_rate.store(rate as f32, std::sync::atomic::Ordering::Relaxed);
        self.shared.meters.budget_us.store(
            selected.model.config.frame_seconds() as f32 * 1e6,
            std::sync::atomic::Ordering::Relaxed,
        );
        context.set_latency_samples(latency);
        self.limiter = Limiter::new(rate as f32);
        // Replacing the player frees the previous one here, off the audio thread.
        self.player =
            Some(Player::new(Box::new(engine), self.drop_tx.clone(), self.seed(), self.midi()));
        true
    }

    fn reset(&mut self) {
        let (seed, midi) = (self.seed(), self.midi());
        if let Some(p) = &mut self.player {
            p.reset(seed, midi);
        }
        for p in [
            &self.params.temperature,
            &self.params.noise,
            &self.params.gain,
            &self.params.width,
            &self.params.formant,
            &self.params.dry_wet,
        ] {
            p.smoothed.reset(p.value());
        }
        self.last_frame = 0;
        self.mod_wheel = 0.0;
        self.limiter.reset();
        self.input.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(mut player) = self.player.take() else {
            return ProcessStatus::Normal;
        };
        while let Ok(engine) = self.engine_rx.try_recv() {
            player.swap(engine);
        }
        let (seed, midi) = (self.seed(), self.midi());
        if seed != player.seed() {
            player.set_seed(seed);
        }
        player.set_midi(midi);
        let voices = self.params.voices.value() as usize;
        if voices != player.polyphony() {
            player.set_polyphony(voices);
            context.set_current_voice_capacity(voices as u32);
        }
        let schedule = self.params.latency.value().schedule();
        let schedule_changed = schedule != player.engine().schedule();
        if schedule_changed {
            player.set_schedule(schedule);
        }
        if schedule_changed || (self.params.follow.value() > 0.0) != self.following {
            let latency = self.latency_of(player.engine());
            context.set_latency_samples(latency);
        }
        let n = buffer.samples();
        match aux.inputs.first() {
            _ if self.main_input => self.input.mix(buffer.as_slice_immutable(), n),
            Some(sidechain) => self.input.mix(sidechain.as_slice_immutable(), n),
            None => self.input.mix::<&[f32]>(&[], n),
        }
        let gate_db = params::gate_db(self.params.input_gate.value());
        let started = Instant::now();
        let frames_before = player.frames();
        let mut event = context.next_event();
        for (i, mut samples) in buffer.iter_samples().enumerate() {
            if i % MAX_BLOCK == 0 {
                // The voices follow the input a piece at a time (what the listener holds).
                player.listen(self.input.mono(i, MAX_BLOCK), gate_db);
            }
            while let Some(e) = event {
                if e.timing() as usize > i {
                    break;
                }
                let p = &self.params;
                match e {
                    NoteEvent::NoteOn {
                        key: Key::Number(key),
                        velocity,
                        voice_id,
                        channel,
                        ..
                    } => {
                        let channel = channel.number().unwrap_or(0);
                        let note = Note { key, channel, id: voice_id.id() };
                        player.note_on(note, params::velocity_gain(velocity, p.velocity.value()))
                    }
                    NoteEvent::NoteOff { key, voice_id, .. } => {
                        player.note_off(key.number(), voice_id.id())
                    }
                    NoteEvent::PolyModulation { voice_id, normalized_offset, .. } => {
                        let change = params::temperature_change(&p.temperature, normalized_offset);
                        player.modulate_temperature(voice_id, normalized_offset, change)
                    }
                    NoteEvent::MonoAutomation { .. } => player.remap_temperature(|offset| {
                        params::temperature_change(&p.temperature, offset)
                    }),
                    NoteEvent::MidiPitchBend { value, .. } => {
                        player.set_bend(params::bend_ratio(value, p.bend_range.value()))
                    }
                    NoteEvent::MidiCC { cc: MOD_WHEEL, value, .. } => self.mod_wheel = value,
                    NoteEvent::MidiCC { cc: SUSTAIN_PEDAL, value, .. } => {
                        player.set_sustain(value >= 0.5)
                    }
                    _ => {}
                }
                event = context.next_event();
            }
            let p = &self.params;
            let controls = Controls {
                temperature: p.temperature.smoothed.next() + self.mod_wheel,
                noise: p.noise.smoothed.next(),
                gain: util::db_to_gain(p.gain.smoothed.next()),
                width: p.width.smoothed.next(),
                formant: 2f32.powf(p.formant.smoothed.next() / 12.0),
                follow: p.follow.value(),
            };
            let (l, r) = player.next(&controls);
            player.take_ended(|note| {
                let _ = context.try_send_event(NoteEvent::VoiceTerminated {
                    timing: i as u32,
                    voice_id: note.id.map_or(VoiceID::Wildcard, VoiceID::ID),
                    channel: Channel::Number(note.channel),
                    key: Key::Number(note.key),
                });
            });
            let (wet, dry) = (p.dry_wet.smoothed.next(), self.input.dry(i));
            let mix = |x: f32| wet * x + (1.0 - wet) * dry;
            let (l, r) = self.limiter.next((mix(l), mix(r)), p.limiter.value());
            let mut channels = samples.iter_mut();
            if let Some(s) = channels.next() {
                *s = l;
            }
            if let Some(s) = channels.next() {
                *s = r;
            }
            self.report(l);
            let frame = player.frames();
            if frame != self.last_frame {
                self.last_frame = frame;
                let _ = self.telemetry_tx.latent.push(player.latent_delta());
            }
        }
        // Steps run in pieces over several callbacks: the meter is the processing time of
        // every callback since the last new frame, per frame.
        self.busy_us += started.elapsed().as_secs_f32() * 1e6;
        let stepped = player.frames().saturating_sub(frames_before);
        if stepped > 0 {
            let per_step = self.busy_us / stepped as f32;
            self.busy_us = 0.0;
            let m = &self.shared.meters;
            let old = m.step_us.load(std::sync::atomic::Ordering::Relaxed);
            let smoothed = if old == 0.0 { per_step } else { 0.9 * old + 0.1 * per_step };
            m.step_us.store(smoothed, std::sync::atomic::Ordering::Relaxed);
        }
        self.shared
            .meters
            .nonfinite
            .store(player.nonfinite(), std::sync::atomic::Ordering::Relaxed);
        self.player = Some(player);
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for VrnnSynth {
    const CLAP_ID: &'static str = "org.vrnn-synth.vrnn-synth";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("A neural instrument that improvises in the sound of a recording (VRNN)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::Instrument,
        ClapFeature::Synthesizer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
    // Temperature is modulated per note; notes are told apart by their ids, so a host may
    // stack several on one key.
    const CLAP_POLY_MODULATION_CONFIG: Option<PolyModulationConfig> = Some(PolyModulationConfig {
        max_voice_capacity: engine::MAX_VOICES as u32,
        supports_overlapping_voices: true,
    });
}

impl Vst3Plugin for VrnnSynth {
    const VST3_CLASS_ID: [u8; 16] = *b"VrnnSynthVRNN015";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth, Vst3SubCategory::Stereo];
}

nice_export_clap!(VrnnSynth);
nice_export_vst3!(VrnnSynth);
