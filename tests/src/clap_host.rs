//! A minimal CLAP host for tests: one plugin instance, parameter and note events at exact
//! sample positions, blocks of any size, state save and load.

use std::collections::HashMap;
use std::path::Path;

use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{
    MidiEvent, NoteEndEvent, NoteOffEvent, NoteOnEvent, ParamModEvent, ParamValueEvent,
};
use clack_host::events::io::EventBuffer;
use clack_host::events::{Event as _, Match, Pckn};
use clack_host::prelude::*;

pub struct Shared;

impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// An event at an absolute sample position of the render.
#[derive(Clone, Debug)]
pub enum Event {
    /// A parameter (by name) to a plain value.
    Param(&'static str, f64),
    NoteOn(u8),
    /// A note-on at a velocity in 0..=1.
    NoteOnAt(u8, f64),
    NoteOff(u8),
    /// A note-on and a note-off with the host's note id (CLAP note ids).
    NoteOnId(u8, u32),
    NoteOffId(u8, u32),
    /// A note-on with an id at a velocity in 0..=1.
    NoteOnAtId(u8, u32, f64),
    /// Polyphonic modulation of a parameter (by name) for one note id, in plain units.
    PolyMod(&'static str, u32, f64),
    /// A raw MIDI 1.0 message (pitch bend, a control change).
    Midi([u8; 3]),
}

/// A note the plugin said has ended: where (absolute position), its note id and key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteEnd {
    pub at: u64,
    pub id: Option<u32>,
    pub key: Option<u16>,
}

/// A note on channel 0 of port 0, with an id or (plain MIDI) none.
fn note(key: u8, id: Option<u32>) -> Pckn {
    Pckn::new(0u16, 0u16, key as u16, id.map_or(Match::All, Match::Specific))
}

pub struct Session {
    _entry: PluginEntry,
    instance: PluginInstance<TestHost>,
    processor: Option<StartedPluginAudioProcessor<TestHost>>,
    params: HashMap<String, ClapId>,
    max_block: u32,
    position: u64,
    /// Every note-end event the plugin has sent.
    pub note_ends: Vec<NoteEnd>,
}

impl Session {
    /// Loads the .clap bundle, instantiates its first plugin and activates it.
    pub fn new(bundle: &Path, rate: f64, max_block: u32) -> Session {
        // SAFETY: loading a plugin runs its code; this is the plugin under test.
        let entry = unsafe { PluginEntry::load(bundle) }.expect("load the .clap");
        let factory = entry.get_plugin_factory().expect("plugin factory");
        let id = factory.plugin_descriptors().next().expect("a plugin").id().unwrap().to_owned();
        let info =
            HostInfo::new("vrnn-tests", "VRNN Synth", "https://example.invalid", "0.1").unwrap();
        let mut instance = PluginInstance::<TestHost>::new(|_| Shared, |_| (), &entry, &id, &info)
            .expect("instantiate");
        let mut params = HashMap::new();
        {
            let handle = instance.plugin_handle();
            let ext: PluginParams = handle.get_extension().expect("params extension");
            let mut buf = ParamInfoBuffer::new();
            for i in 0..ext.count(&handle) {
                if let Some(info) = ext.get_info(&handle, i, &mut buf) {
                    params.insert(String::from_utf8_lossy(info.name).into_owned(), info.id);
                }
            }
        }
        let mut s = Session {
            _entry: entry,
            instance,
            processor: None,
            params,
            max_block,
            position: 0,
            note_ends: Vec::new(),
        };
        s.activate(rate);
        s
    }

    pub fn activate(&mut self, rate: f64) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
        let config = PluginAudioConfiguration {
            sample_rate: rate,
            min_frames_count: 1,
            max_frames_count: self.max_block,
        };
        let stopped = self.instance.activate(|_, _| (), config).expect("activate");
        self.processor = Some(stopped.start_processing().expect("start processing"));
        self.position = 0;
    }

    pub fn param(&self, name: &str) -> ClapId {
        *self
            .params
            .get(name)
            .unwrap_or_else(|| panic!("no parameter '{name}' in {:?}", self.params.keys()))
    }

    /// The plugin's current plain value of a parameter.
    pub fn param_value(&mut self, name: &str) -> f64 {
        let id = self.param(name);
        let handle = self.instance.plugin_handle();
        let ext: PluginParams = handle.get_extension().unwrap();
        ext.get_value(&handle, id).unwrap()
    }

    /// The latency the plugin reports, in samples.
    pub fn latency(&mut self) -> u32 {
        let handle = self.instance.plugin_handle();
        let ext: PluginLatency = handle.get_extension().expect("latency extension");
        ext.get(&handle)
    }

    pub fn save_state(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let ext: PluginState = handle.get_extension().expect("state extension");
        let mut out = Vec::new();
        ext.save(&handle, &mut out).expect("save state");
        out
    }

    pub fn load_state(&mut self, state: &[u8]) {
        let handle = self.instance.plugin_handle();
        let ext: PluginState = handle.get_extension().expect("state extension");
        ext.load(&handle, &mut std::io::Cursor::new(state)).expect("load state");
    }

    /// Renders `total` stereo samples in blocks whose sizes `block` gives, with `events` at
    /// absolute positions counted from this render's start.
    pub fn render(
        &mut self,
        total: usize,
        block: impl FnMut() -> usize,
        events: &[(usize, Event)],
    ) -> [Vec<f32>; 2] {
        self.render_with_input(total, block, events, &[])
    }

    /// As `render`, with `input` (mono, silence after its end) on both channels of the first
    /// input port: the sidechain of the plugin's default layout.
    pub fn render_with_input(
        &mut self,
        total: usize,
        mut block: impl FnMut() -> usize,
        events: &[(usize, Event)],
        signal: &[f32],
    ) -> [Vec<f32>; 2] {
        let mut out = [vec![0.0f32; total], vec![0.0f32; total]];
        let mut input =
            [vec![0.0f32; self.max_block as usize], vec![0.0f32; self.max_block as usize]];
        let mut inputs = AudioPorts::with_capacity(2, 1);
        let mut outputs = AudioPorts::with_capacity(2, 1);
        let mut out_events = EventBuffer::new();
        let mut pos = 0;
        while pos < total {
            let n = block().clamp(1, self.max_block as usize).min(total - pos);
            let mut buffer = EventBuffer::new();
            for (at, e) in events.iter().filter(|(at, _)| (pos..pos + n).contains(at)) {
                let time = (at - pos) as u32;
                match e {
                    Event::Param(name, v) => buffer.push(&ParamValueEvent::new(
                        time,
                        self.param(name),
                        Pckn::match_all(),
                        *v,
                    )),
                    Event::NoteOn(k) => buffer.push(&NoteOnEvent::new(time, note(*k, None), 1.0)),
                    Event::NoteOnAt(k, velocity) => {
                        buffer.push(&NoteOnEvent::new(time, note(*k, None), *velocity))
                    }
                    Event::Midi(data) => buffer.push(&MidiEvent::new(time, 0, *data)),
                    Event::NoteOff(k) => buffer.push(&NoteOffEvent::new(time, note(*k, None), 0.0)),
                    Event::NoteOnId(k, id) => {
                        buffer.push(&NoteOnEvent::new(time, note(*k, Some(*id)), 1.0))
                    }
                    Event::NoteOnAtId(k, id, velocity) => {
                        buffer.push(&NoteOnEvent::new(time, note(*k, Some(*id)), *velocity))
                    }
                    Event::NoteOffId(k, id) => {
                        buffer.push(&NoteOffEvent::new(time, note(*k, Some(*id)), 0.0))
                    }
                    Event::PolyMod(name, id, amount) => buffer.push(&ParamModEvent::new(
                        time,
                        self.param(name),
                        Pckn::new(0u16, 0u16, Match::All, *id),
                        *amount,
                    )),
                }
            }
            for channel in &mut input {
                for (k, v) in channel[..n].iter_mut().enumerate() {
                    *v = signal.get(pos + k).copied().unwrap_or(0.0);
                }
            }
            let [l, r] = &mut out;
            let (l, r) = (&mut l[pos..pos + n], &mut r[pos..pos + n]);
            let input_audio = inputs.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    input.iter_mut().map(|b| InputChannel::constant(&mut b[..n])),
                ),
            }]);
            let mut output_audio = outputs.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only([l, r].into_iter()),
            }]);
            out_events.clear();
            self.processor
                .as_mut()
                .expect("active")
                .process(
                    &input_audio,
                    &mut output_audio,
                    &InputEvents::from_buffer(&buffer),
                    &mut OutputEvents::from_buffer(&mut out_events),
                    Some(self.position),
                    None,
                )
                .expect("process");
            for e in out_events.iter().filter_map(|e| e.as_event::<NoteEndEvent>()) {
                let at = self.position + e.time() as u64;
                let (id, key) = (e.note_id().into_specific(), e.key().into_specific());
                self.note_ends.push(NoteEnd { at, id, key });
            }
            pos += n;
            self.position += n as u64;
        }
        out
    }
}

/// nice-plug's CLAP state: an 8-byte little-endian length, then JSON.
pub fn state_json(state: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(state[..8].try_into().expect("length prefix")) as usize;
    serde_json::from_slice(&state[8..8 + len]).expect("nice-plug state is JSON")
}

pub fn state_bytes(json: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).unwrap();
    let mut out = (body.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = self.processor.take() {
            self.instance.deactivate(p.stop_processing());
        }
    }
}
