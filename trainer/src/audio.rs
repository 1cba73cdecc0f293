//! Reading recordings through symphonia: WAV (every PCM width, 32/64-bit float,
//! WAVE_FORMAT_EXTENSIBLE), FLAC, MP3, OGG Vorbis, AIFF and M4A/AAC, mixed to mono, rid of
//! any DC offset and resampled to the model rate, with errors that name the file and the
//! reason. A file cut short (a recorder that crashed) is read up to its last whole packet,
//! with a warning.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use vrnn_core::dc::remove_dc;

/// Peak below which a recording counts as silence (-100 dBFS).
pub const SILENCE: f32 = 1e-5;

/// File extensions read as audio when a folder is given.
pub const AUDIO_EXTENSIONS: &[&str] =
    &["wav", "wave", "flac", "mp3", "ogg", "oga", "aif", "aiff", "aifc", "m4a", "mp4", "aac"];

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Expands folders into the audio files they hold (sorted; other files are skipped and
/// named), keeps files as they are.
pub fn collect_audio(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("{}: cannot read folder", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            let (found, skipped): (Vec<PathBuf>, Vec<PathBuf>) =
                entries.into_iter().partition(|p| is_audio(p));
            for s in &skipped {
                eprintln!("skipping {}: not an audio file", s.display());
            }
            if found.is_empty() {
                bail!(
                    "{}: folder holds no audio file ({})",
                    input.display(),
                    AUDIO_EXTENSIONS.join(", ")
                );
            }
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    if out.is_empty() {
        bail!("no input recordings given");
    }
    Ok(out)
}

/// A decoded recording: interleaved samples in [-1, 1].
struct Decoded {
    samples: Vec<f32>,
    channels: usize,
    rate: u32,
}

/// Decodes every packet of the file's first audio track. Ends quietly at the end of the
/// stream; a stream that ends early, or a packet that will not decode at the end, leaves
/// what was read, with a warning naming the file and how much was read.
fn decode(path: &Path) -> Result<Decoded> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            MediaSourceStream::new(Box::new(file), Default::default()),
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{name}: not a readable audio file ({e})"))?;
    let mut format = probed.format;
    let track =
        format.default_track().with_context(|| format!("{name}: the file holds no audio track"))?;
    let (track_id, params) = (track.id, track.codec_params.clone());
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| anyhow::anyhow!("{name}: unsupported audio codec ({e})"))?;
    let (mut samples, mut spec) = (Vec::new(), None);
    let mut buffer: Option<SampleBuffer<f32>> = None;
    let mut cut_short = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(DecodeError::ResetRequired) => break,
            Err(e) => {
                cut_short = Some(e.to_string());
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(audio) => {
                let s = *audio.spec();
                let buf = buffer
                    .get_or_insert_with(|| SampleBuffer::<f32>::new(audio.capacity() as u64, s));
                if buf.capacity() < audio.capacity() * s.channels.count() {
                    *buf = SampleBuffer::<f32>::new(audio.capacity() as u64, s);
                }
                buf.copy_interleaved_ref(audio);
                samples.extend_from_slice(buf.samples());
                spec = Some(s);
            }
            // A damaged packet in the middle is skipped, as players do.
            Err(DecodeError::DecodeError(e)) => cut_short = Some(e.to_string()),
            Err(DecodeError::IoError(e)) => {
                cut_short = Some(e.to_string());
                break;
            }
            Err(e) => bail!("{name}: cannot decode ({e})"),
        }
    }
    let channels = spec.map_or(params.channels.map_or(0, |c| c.count()), |s| s.channels.count());
    let rate = spec.map_or(params.sample_rate.unwrap_or(0), |s| s.rate);
    if channels == 0 || rate == 0 {
        bail!("{name}: the recording is empty");
    }
    let frames = (samples.len() / channels) as u64;
    // Containers may round their stated length (symphonia's AIFF reader by a few frames):
    // less than 10 ms short is not a truncation.
    let expected = params.n_frames.filter(|n| *n > frames + rate as u64 / 100);
    if cut_short.is_some() || expected.is_some() {
        let read = frames as f64 / rate as f64;
        let of = expected.map_or(String::new(), |n| format!(" of {:.2} s", n as f64 / rate as f64));
        eprintln!(
            "warning: {name} is truncated or damaged{}: read {read:.2} s{of}",
            cut_short.map_or(String::new(), |e| format!(" ({e})"))
        );
    }
    samples.truncate(frames as usize * channels);
    Ok(Decoded { samples, channels, rate })
}

/// Reads a recording as mono f32 at `rate` Hz, without its DC offset. `min_seconds` is the
/// shortest accepted.
pub fn load_mono(path: &Path, rate: u32, min_seconds: f64) -> Result<Vec<f32>> {
    Ok(load_recording(path, rate, min_seconds)?.samples)
}

/// A recording as `load_mono` reads it, and how much of it clips.
pub struct Recording {
    pub samples: Vec<f32>,
    /// The share of its samples in flat tops (see `clipped_share`).
    pub clipped: f64,
}

/// Share of clipped samples above which fit warns (one in a thousand).
pub const CLIPPED_WARNING: f64 = 1e-3;

/// `load_mono`, with the share of the file's samples that clip.
pub fn load_recording(path: &Path, rate: u32, min_seconds: f64) -> Result<Recording> {
    let name = path.display();
    let Decoded { samples: interleaved, channels, rate: file_rate } = decode(path)?;
    if interleaved.is_empty() {
        bail!("{name}: the recording is empty");
    }
    if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
        bail!("{name}: sample {} (channel {}) is not finite", i / channels, i % channels);
    }
    let clipped = clipped_share(&interleaved, channels);
    let mut mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let seconds = mono.len() as f64 / file_rate as f64;
    if seconds < min_seconds {
        bail!(
            "{name}: {seconds:.2} s is too short; at least {min_seconds:.2} s of audio is needed"
        );
    }
    // Before the silence check, so that an offset with nothing on it counts as silence.
    remove_dc(&mut mono, file_rate);
    if mono.iter().all(|v| v.abs() < SILENCE) {
        bail!("{name}: the recording is silent (peak below -100 dBFS)");
    }
    let samples = if file_rate == rate {
        mono
    } else {
        resample(&mono, file_rate, rate).with_context(|| format!("{name}: resampling failed"))?
    };
    Ok(Recording { samples, clipped })
}

/// The share of samples in flat tops: runs of three or more equal samples at the channel's
/// own peak (within 1 %), wherever the peak is (a clipped take turned down still has them).
/// Speech and music reach their peak for a sample or two; a recording that clipped sits on
/// it.
fn clipped_share(interleaved: &[f32], channels: usize) -> f64 {
    let mut flat = 0usize;
    for c in 0..channels {
        let channel: Vec<f32> = interleaved.iter().skip(c).step_by(channels).copied().collect();
        let peak = channel.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if peak == 0.0 {
            continue;
        }
        for run in channel.chunk_by(|a, b| a == b) {
            if run.len() >= 3 && run[0].abs() >= 0.99 * peak {
                flat += run.len();
            }
        }
    }
    flat as f64 / interleaved.len() as f64
}

/// Every recording of `inputs` (files or folders) as mono at `rate`, each at least
/// `min_seconds` long.
pub fn load_all(inputs: &[PathBuf], rate: u32, min_seconds: f64) -> Result<Vec<Vec<f32>>> {
    collect_audio(inputs)?.iter().map(|p| load_mono(p, rate, min_seconds)).collect()
}

/// Band-limited resampling of a whole clip.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let params = SincInterpolationParameters {
        sinc_len: 256,
        f_cutoff: None,
        oversampling_factor: 256,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let ratio = to as f64 / from as f64;
    let mut r = Async::<f32>::new_sinc(ratio, 1.0, &params, 4096, 1, FixedAsync::Input)?;
    let input = SequentialSlice::new(x, 1, x.len())?;
    let out = r.process_all(&input, x.len(), None)?;
    Ok(out.take_data())
}
