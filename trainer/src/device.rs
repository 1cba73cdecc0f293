//! `--device auto|cpu|cuda[:N]|metal[:N]`: which device trains.

use anyhow::{bail, Context, Result};
use candle_core::Device;

pub fn pick(spec: &str) -> Result<Device> {
    let (kind, ordinal) = match spec.split_once(':') {
        Some((k, n)) => (k, n.parse::<usize>().with_context(|| format!("bad device '{spec}'"))?),
        None => (spec, 0),
    };
    match kind {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(ordinal).with_context(|| {
            format!("no CUDA device {ordinal} (is the trainer built with --features cuda?)")
        }),
        "metal" => Device::new_metal(ordinal).with_context(|| {
            format!("no Metal device {ordinal} (is the trainer built with --features metal?)")
        }),
        "auto" => Ok(if cfg!(feature = "cuda") {
            Device::new_cuda(0).unwrap_or(Device::Cpu)
        } else if cfg!(feature = "metal") {
            Device::new_metal(0).unwrap_or(Device::Cpu)
        } else {
            Device::Cpu
        }),
        _ => bail!("unknown device '{spec}': use auto, cpu, cuda[:N] or metal[:N]"),
    }
}

pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => {
            format!("CPU ({} threads)", std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
        Device::Cuda(_) => "CUDA GPU".to_string(),
        Device::Metal(_) => "Metal GPU".to_string(),
    }
}
