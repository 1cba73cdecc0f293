//! The trainer's heap policy: freed memory is kept for the next training step.

/// Largest block glibc serves from its heap rather than a fresh mapping (its own maximum).
const HEAP_BLOCK_MAX: i32 = 32 << 20;

/// A training step allocates and frees the same large buffers (activations, gradients)
/// every time. glibc hands blocks over its mmap threshold back to the kernel when they are
/// freed and trims the heap's top, so each step paid page faults and page clearing for
/// them again: 7 % of a step at H = 256 in `perf`. Serving them from the heap and never
/// trimming it keeps them mapped; the peak memory is the same.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of glibc's allocation thresholds; it is called before
    // the trainer starts its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_BLOCK_MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
