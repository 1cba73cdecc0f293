//! The model file: one safetensors file, the configuration as JSON in its header metadata.
//! Loading validates everything and never panics; writing is atomic.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::ModelConfig;
use crate::kernel::Precision;
use crate::names::{tensor_specs, CONFIG_METADATA_KEY};

/// Largest model file accepted (well above MAX_PARAMETERS f32s plus header).
pub const MAX_FILE_BYTES: u64 = 300 << 20;

/// Every way a model file can be wrong. Display always names the file.
#[derive(Debug)]
pub struct ModelError {
    pub origin: String,
    pub problem: Problem,
}

#[derive(Debug)]
pub enum Problem {
    Io(std::io::Error),
    TooLarge(u64),
    /// Not a safetensors file, or a truncated/corrupted one.
    Format(String),
    MissingConfig,
    Config(String),
    MissingTensor(String),
    UnexpectedTensor(String),
    Tensor {
        name: String,
        problem: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model file {}: ", self.origin)?;
        match &self.problem {
            Problem::Io(e) => write!(f, "{e}"),
            Problem::TooLarge(n) => {
                write!(f, "{n} bytes is larger than the {MAX_FILE_BYTES}-byte limit")
            }
            Problem::Format(e) => write!(f, "not a valid safetensors model file ({e})"),
            Problem::MissingConfig => {
                write!(
                    f,
                    "no '{CONFIG_METADATA_KEY}' configuration in the header: not a VRNN model"
                )
            }
            Problem::Config(e) => write!(f, "bad configuration: {e}"),
            Problem::MissingTensor(n) => write!(f, "tensor '{n}' is missing"),
            Problem::UnexpectedTensor(n) => {
                write!(f, "tensor '{n}' is not part of this configuration")
            }
            Problem::Tensor { name, problem } => write!(f, "tensor '{name}': {problem}"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A validated configuration with its f32 tensors, by name.
#[derive(Clone, Debug)]
pub struct ModelFile {
    pub config: ModelConfig,
    tensors: HashMap<String, Vec<f32>>,
    /// Where it came from, for messages.
    origin: String,
}

impl ModelFile {
    /// Checks names, shapes and values against the configuration.
    pub fn new(
        config: ModelConfig,
        tensors: HashMap<String, Vec<f32>>,
        origin: &str,
    ) -> Result<Self, ModelError> {
        let err = |problem| ModelError { origin: origin.to_string(), problem };
        config.validate().map_err(|e| err(Problem::Config(e)))?;
        let specs = tensor_specs(&config);
        for spec in &specs {
            let data = tensors
                .get(&spec.name)
                .ok_or_else(|| err(Problem::MissingTensor(spec.name.clone())))?;
            let expected: usize = spec.shape.iter().product();
            if data.len() != expected {
                return Err(err(Problem::Tensor {
                    name: spec.name.clone(),
                    problem: format!("{} values, expected {:?}", data.len(), spec.shape),
                }));
            }
            check_finite(&spec.name, data).map_err(err)?;
        }
        // The smallest name, so that the message is the same on every run.
        if let Some(extra) = tensors.keys().filter(|k| !specs.iter().any(|s| &s.name == *k)).min() {
            return Err(err(Problem::UnexpectedTensor(extra.clone())));
        }
        Ok(ModelFile { config, tensors, origin: origin.to_string() })
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let err = |problem| ModelError { origin: origin.clone(), problem };
        let size = std::fs::metadata(path).map_err(|e| err(Problem::Io(e)))?.len();
        if size > MAX_FILE_BYTES {
            return Err(err(Problem::TooLarge(size)));
        }
        let bytes = std::fs::read(path).map_err(|e| err(Problem::Io(e)))?;
        Self::from_bytes(&bytes, &origin)
    }

    /// Parses a model from memory; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, ModelError> {
        let err = |problem| ModelError { origin: origin.to_string(), problem };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(err(Problem::TooLarge(bytes.len() as u64)));
        }
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| err(Problem::Format(e.to_string())))?;
        let json = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(CONFIG_METADATA_KEY))
            .ok_or_else(|| err(Problem::MissingConfig))?;
        let config: ModelConfig =
            serde_json::from_str(json).map_err(|e| err(Problem::Config(e.to_string())))?;
        // Validate the configuration before reading (and allocating for) any tensor.
        config.validate().map_err(|e| err(Problem::Config(e)))?;
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| err(Problem::Format(e.to_string())))?;
        let specs = tensor_specs(&config);
        let mut tensors = HashMap::with_capacity(specs.len());
        for spec in &specs {
            let view = st
                .tensor(&spec.name)
                .map_err(|_| err(Problem::MissingTensor(spec.name.clone())))?;
            let bad = |problem: String| err(Problem::Tensor { name: spec.name.clone(), problem });
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("dtype {:?}, expected F32", view.dtype())));
            }
            if view.shape() != spec.shape.as_slice() {
                return Err(bad(format!("shape {:?}, expected {:?}", view.shape(), spec.shape)));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(spec.name.clone(), values);
        }
        if let Some(extra) = st.names().into_iter().filter(|n| !tensors.contains_key(*n)).min() {
            return Err(err(Problem::UnexpectedTensor(extra.to_string())));
        }
        Self::new(config, tensors, origin)
    }

    /// Checks that every weight matrix fits `precision` (f16 holds at most +-65504); the
    /// error names the tensor, the index and the value.
    pub fn check_range(&self, precision: Precision) -> Result<(), ModelError> {
        for spec in tensor_specs(&self.config).iter().filter(|s| s.shape.len() == 2) {
            if let Some((i, v)) = precision.first_unrepresentable(self.tensor(&spec.name)) {
                let problem = format!(
                    "weight {v:e} at index {i} is outside {precision}'s range; load the model \
                     as f32 or bf16"
                );
                let problem = Problem::Tensor { name: spec.name.clone(), problem };
                return Err(ModelError { origin: self.origin.clone(), problem });
            }
        }
        Ok(())
    }

    pub fn tensor(&self, name: &str) -> &[f32] {
        // Presence is guaranteed by construction for every name in tensor_specs.
        self.tensors.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn tensors(&self) -> &HashMap<String, Vec<f32>> {
        &self.tensors
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let specs = tensor_specs(&self.config);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = specs
            .into_iter()
            .map(|s| {
                let data = self.tensor(&s.name).iter().flat_map(|v| v.to_le_bytes()).collect();
                (s.name, s.shape, data)
            })
            .collect();
        let views = bytes.iter().map(|(name, shape, data)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), data)
                .expect("shape matches data by construction");
            (name.clone(), view)
        });
        let json = serde_json::to_string(&self.config).expect("config serialises");
        let metadata = HashMap::from([(CONFIG_METADATA_KEY.to_string(), json)]);
        safetensors::serialize(views, Some(metadata)).expect("safetensors serialises f32 views")
    }

    /// Writes the model atomically: a reader never sees a half-written file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        write_atomic(path, &self.to_bytes())
            .map_err(|e| ModelError { origin: path.display().to_string(), problem: Problem::Io(e) })
    }
}

fn check_finite(name: &str, data: &[f32]) -> Result<(), Problem> {
    match data.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Problem::Tensor {
            name: name.to_string(),
            problem: format!("value {} at index {i} is not finite", data[i]),
        }),
        None => Ok(()),
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
/// A crash or a full disk leaves the previous file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
