//! The engine allocates nothing after construction: a counting global allocator watches
//! ten seconds of streamed audio (alone in this test binary, so nothing else allocates).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{random_model, small_config};
use vrnn_core::{
    Cell, Domain, Follow, Latent, Listener, Model, ModelConfig, Output, Precision, Stream,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ten_seconds_of_streaming_allocate_nothing() {
    for (cell, output, domain, precision) in [
        (Cell::Lstm, Output::Gmm { components: 3 }, Domain::Time, Precision::F32),
        (Cell::Gru, Output::Gauss, Domain::Time, Precision::F32),
        (Cell::Lstm, Output::Gauss, Domain::Mdct, Precision::F32),
        (Cell::Lstm, Output::Gauss, Domain::Hnm, Precision::F32),
        // int8 products quantise their input into a buffer on the stack.
        (Cell::Gru, Output::Gmm { components: 3 }, Domain::Time, Precision::Int8),
        // bf16 ones on AVX-512 BF16 CPUs split theirs into one.
        (Cell::Lstm, Output::Gauss, Domain::Time, Precision::Bf16),
    ] {
        let config = match domain {
            Domain::Hnm => common::hnm_config(),
            _ => ModelConfig { domain, ..small_config(cell, Latent::Conditional, output) },
        };
        let model = Arc::new(Model::from_file_with(&random_model(&config, 1), precision).unwrap());
        let rate = 48_000.0;
        let mut stream = Stream::new(model.clone(), rate, 1).unwrap();
        let mut listener = Listener::new(&model.config, rate).unwrap();
        let mut block = vec![0.0f32; 8192];
        let input: Vec<f32> = (0..4096).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        stream.process(&mut block[..1000]); // warm-up
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut done = 0;
        let mut size = 1;
        while done < 10 * rate as usize {
            if done < 5 * rate as usize {
                stream.process(&mut block[..size]);
            } else {
                // Then following a live input (a tone, blocks of up to 4096).
                let n = size.min(input.len());
                let at = listener.pushed();
                listener.push(&input[..n]);
                let follow = Follow { input: &listener, amount: 0.8, at };
                stream.process_following(&mut block[..n], Some(follow));
                listener.set_gate_db(-60.0 + (done % 11) as f32);
            }
            done += size;
            stream.set_temperature(0.5 + (done % 7) as f32 * 0.1);
            stream.set_pitch(1.0 + (done % 3) as f64 * 0.25);
            stream.set_formant(1.0 + (done % 5) as f32 * 0.05);
            size = size * 7 % 8191 + 1;
        }
        stream.reset(2);
        stream.process(&mut block);
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            0,
            "{cell:?} {domain:?} {precision}: allocations while streaming"
        );
    }
}
