//! Training checkpoints: weights, Adam's moments and the loop's position in one
//! safetensors file, written atomically so that a killed run never leaves a corrupt one.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use vrnn_core::{write_atomic, ModelConfig, ModelFile};

use crate::early_stop::Best;
use crate::net::Net;
use crate::optim::Adam;

const STATE_KEY: &str = "vrnn_training_state";

/// Where the loop stands; everything a resumed run needs besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingState {
    pub config: ModelConfig,
    /// Training steps taken (including skipped batches).
    pub step: u64,
    pub adam_t: u64,
    pub seed: u64,
    pub skipped: u64,
    pub elapsed_s: f64,
    /// The best validation so far (whose weights the model file holds); checkpoints written
    /// before it existed resume with none.
    #[serde(default)]
    pub best: Best,
}

fn to_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

pub fn save(path: &Path, state: &TrainingState, net: &Net, adam: &Adam) -> Result<()> {
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut push = |name: String, t: &Tensor| -> Result<()> {
        let bytes = to_f32(t)?.iter().flat_map(|v| v.to_le_bytes()).collect();
        entries.push((name, t.dims().to_vec(), bytes));
        Ok(())
    };
    for (i, (name, var)) in net.vars.iter().enumerate() {
        push(name.clone(), var.as_tensor())?;
        push(format!("adam.m/{name}"), &adam.m[i])?;
        push(format!("adam.v/{name}"), &adam.v[i])?;
    }
    let views = entries
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([(STATE_KEY.to_string(), serde_json::to_string(state)?)]);
    let bytes = safetensors::serialize(views, Some(meta))?;
    write_atomic(path, &bytes)
        .with_context(|| format!("{}: cannot write checkpoint", path.display()))
}

pub fn load(path: &Path, device: &Device, lr: f64) -> Result<(TrainingState, Net, Adam)> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read checkpoint"))?;
    let st =
        SafeTensors::deserialize(&bytes).with_context(|| format!("{name}: corrupt checkpoint"))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)?;
    let Some(json) = meta.metadata().as_ref().and_then(|m| m.get(STATE_KEY)) else {
        bail!("{name}: not a VRNN training checkpoint");
    };
    let state: TrainingState =
        serde_json::from_str(json).with_context(|| format!("{name}: bad state"))?;
    let read = |n: &str| -> Result<Vec<f32>> {
        let v = st.tensor(n).with_context(|| format!("{name}: tensor '{n}' is missing"))?;
        Ok(v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    };
    let specs = vrnn_core::names::tensor_specs(&state.config);
    let weights =
        specs.iter().map(|s| Ok((s.name.clone(), read(&s.name)?))).collect::<Result<_>>()?;
    let file = ModelFile::new(state.config.clone(), weights, &name.to_string())?;
    let net = Net::from_file(&file, device)?;
    let mut adam = Adam::new(&net, lr)?;
    adam.t = state.adam_t;
    for (i, s) in specs.iter().enumerate() {
        adam.m[i] =
            Tensor::from_vec(read(&format!("adam.m/{}", s.name))?, s.shape.clone(), device)?;
        adam.v[i] =
            Tensor::from_vec(read(&format!("adam.v/{}", s.name))?, s.shape.clone(), device)?;
    }
    Ok((state, net, adam))
}
