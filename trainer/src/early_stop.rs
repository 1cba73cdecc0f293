//! Which weights a run keeps and when it stops. The model file holds the weights with the
//! best validation -ELBO so far: on a short recording a model goes on fitting its training
//! audio long after it stops getting better on audio it has not heard (a minute of voice,
//! the small preset: validation best at step 1000, eight times worse by step 5000 while the
//! training loss still fell; docs/sound.md). A run whose validation has not improved for
//! `--patience` validations in a row stops there.

use serde::{Deserialize, Serialize};

/// The best validation so far; kept in the checkpoint, so a resumed run compares against it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Validation -ELBO per frame (normalised) of the weights in the model file, and the
    /// step they are from; None before the first validation after step 0.
    pub val_nelbo: Option<f64>,
    pub step: u64,
    /// Validations since, none of them better.
    pub since: u32,
}

/// What a validation means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The best so far: write these weights as the model.
    Best,
    /// Not better; `stop` once `patience` validations in a row have not been.
    NotBetter { stop: bool },
}

impl Best {
    /// Takes the validation `val_nelbo` of the weights at `step` (patience 0: never stop).
    pub fn observe(&mut self, step: u64, val_nelbo: f64, patience: u32) -> Verdict {
        let better = val_nelbo.is_finite() && self.val_nelbo.is_none_or(|best| val_nelbo < best);
        if better {
            *self = Best { val_nelbo: Some(val_nelbo), step, since: 0 };
            Verdict::Best
        } else {
            self.since += 1;
            Verdict::NotBetter { stop: patience > 0 && self.since >= patience }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_lowest_and_stops_after_patience_validations_without_it() {
        let mut best = Best::default();
        assert_eq!(best.observe(250, 10.0, 3), Verdict::Best);
        assert_eq!(best.observe(500, 8.0, 3), Verdict::Best);
        assert_eq!(best.observe(750, 9.0, 3), Verdict::NotBetter { stop: false });
        assert_eq!(best.observe(1000, f64::NAN, 3), Verdict::NotBetter { stop: false });
        assert_eq!(best.observe(1250, 8.0, 3), Verdict::NotBetter { stop: true }, "ties are not");
        assert_eq!((best.val_nelbo, best.step), (Some(8.0), 500));
        assert_eq!(best.observe(1500, 7.5, 3), Verdict::Best);
        assert_eq!(best.since, 0);
        for step in [1750, 2000, 2250] {
            assert_eq!(
                best.observe(step, 9.0, 0),
                Verdict::NotBetter { stop: false },
                "no patience"
            );
        }
    }
}
