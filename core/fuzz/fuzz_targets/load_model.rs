//! Any byte sequence either loads as a valid model (which then steps without panicking)
//! or gives an error; it never panics or allocates without bound.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vrnn_core::{Generator, Model, ModelFile};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = ModelFile::from_bytes(data, "fuzz") {
        let mut generator = Generator::new(Arc::new(Model::from_file(&file)), 0);
        generator.step(1.0, 1.0);
    }
});
