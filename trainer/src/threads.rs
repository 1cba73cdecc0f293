//! The fused engine's thread policy: candle's element-wise operations run on the calling
//! thread.

/// Candle runs element-wise operations on large tensors through a pool of its own threads
/// beside rayon's, and those threads spin for a while after each operation before they
/// sleep: a CPU that trains has both pools' threads on the same cores. The fused engine
/// runs its products and loss terms on rayon's threads, and its few remaining element-wise
/// operations (gradient sums, copies) are cheap on one thread; the spinning was 12 % of
/// all CPU samples of a two-core step (perf, H = 256), and without it the two-core step took
/// 15 % less time (H = 256; 6 % at H = 512). The reference engine, whose graph is all
/// candle operations, is faster with candle's pool, so only fused training asks for this.
/// A value the user sets is kept.
pub fn elementwise_on_calling_thread() {
    const VAR: &str = "CANDLE_NUM_THREADS";
    if std::env::var_os(VAR).is_none() {
        // Called first thing in main, before any thread starts (the environment is
        // process-wide and not synchronised) and before candle reads it.
        std::env::set_var(VAR, "1");
    }
}
