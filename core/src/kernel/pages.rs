//! The weights' memory: 64-byte aligned buffers, on Linux in transparent huge pages where
//! they are large. A step streams its weights end to end, and with 4 KB pages a matrix of
//! more than about 8 MB has more pages than the core's TLB holds, so every step walks the
//! page tables again (a plain read of 12-22 MB ran 10-15 % faster on 2 MB pages).

/// Huge pages' size on x86-64 and aarch64 Linux (with 4 KB base pages).
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// A buffer of `zero`s with room for `len` of them from a 64-byte boundary, and the index
/// of that boundary. The heap block never moves with the Vec, so the index stays valid.
/// The kernel is asked for huge pages before the buffer is first written. Public so that
/// the benchmarks' read roof streams the same kind of memory as the kernels.
pub fn aligned<T: Copy>(len: usize, zero: T) -> (Vec<T>, usize) {
    let align = 64 / std::mem::size_of::<T>();
    let mut storage: Vec<T> = Vec::with_capacity(len + align);
    advise_huge_pages(storage.as_ptr().cast(), storage.capacity() * std::mem::size_of::<T>());
    storage.resize(len + align, zero);
    let offset = storage.as_ptr().align_offset(64).min(align);
    (storage, offset)
}

/// Asks Linux to back the whole 2 MB pages inside `bytes` bytes from `start` with huge
/// pages (transparent huge pages in "madvise" or "always" mode). Advice only: where the
/// kernel declines or the buffer holds no whole huge page, nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge_pages(start: *const u8, bytes: usize) {
    let first = (start as usize).next_multiple_of(HUGE_PAGE);
    let end = (start as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > first {
        // SAFETY: the range lies inside one live allocation of ours; MADV_HUGEPAGE changes
        // how its pages are backed, never their contents.
        unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: *const u8, _bytes: usize) {}
