//! Any byte sequence either loads as a valid model (which then steps without panicking, in
//! every weight precision it fits) or gives an error; it never panics or allocates without
//! bound.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vrnn_core::{Generator, Model, ModelFile, Precision};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = ModelFile::from_bytes(data, "fuzz") {
        for precision in Precision::ALL {
            if let Ok(model) = Model::from_file_with(&file, precision) {
                Generator::new(Arc::new(model), 0).step(1.0, 1.0);
            }
        }
    }
});
