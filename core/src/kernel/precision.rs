//! The number format packed weights are stored in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a model's weights are held in memory. Half-precision weights halve the bytes each
/// step streams from the caches, int8 ones quarter them; half-precision products are
/// accumulated in f32, int8 ones (their input rounded to 16 bits) summed exactly in
/// integers. Biases, activations and the recurrent state stay f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    /// IEEE half: 11 significant bits, range +-65504.
    F16,
    /// bfloat16: 8 significant bits, f32's range.
    Bf16,
    /// 8-bit integers with one scale per row (its largest weight over 127, or a clipped one).
    Int8,
}

impl Precision {
    pub const ALL: [Precision; 4] =
        [Precision::F32, Precision::F16, Precision::Bf16, Precision::Int8];

    /// Bytes per stored weight.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 | Precision::Bf16 => 2,
            Precision::Int8 => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// Index and value of the first weight this format cannot hold (f16 overflows above
    /// 65504; the others hold every finite f32, int8 through its row scales).
    pub fn first_unrepresentable(self, weights: &[f32]) -> Option<(usize, f32)> {
        match self {
            Precision::F16 => weights
                .iter()
                .position(|&w| half::f16::from_f32(w).is_infinite())
                .map(|i| (i, weights[i])),
            Precision::F32 | Precision::Bf16 | Precision::Int8 => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown precision '{s}' (expected f32, f16, bf16 or int8)"))
    }
}
