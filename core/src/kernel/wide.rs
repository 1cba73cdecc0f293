//! Element-wise loops compiled for AVX2 where the CPU has it. The crates are built for
//! baseline x86-64, whose 4-wide SSE vectors halve such loops' speed.

/// Runs `f` compiled for AVX2 and FMA (`x86::with_avx2`, what `for_isa` runs) when the CPU
/// has them, with what `f` inlines: loops marked `#[inline(always)]` that index slices (an
/// iterator adapter's closure body is a function of its own, left outside). Mark the closure
/// itself `#[inline(always)]` too: a closure left to the inliner's judgement, a large one
/// above all, stays a baseline function. The same operations in the same order (Rust never
/// fuses a multiply and an add by itself), so the same bits either way. The check is a
/// cached atomic read: no lock, no allocation, fit for the audio thread.
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { super::x86::with_avx2(f) };
    }
    f()
}
