//! A mutable slice that parallel tasks write disjoint parts of.
//!
//! Why: the kernels split one output buffer over parallel tasks (`team::for_each`) by (row
//! range x column range), which `par_chunks_mut` cannot express (a task's part is not
//! contiguous). Each call site
//! states why its tasks' parts are disjoint.

use std::marker::PhantomData;

#[derive(Clone, Copy)]
pub struct SyncPtr<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: the pointer comes from a `&mut [f32]` borrowed for 'a; callers guarantee that
// concurrent `slice` calls cover disjoint ranges.
unsafe impl Send for SyncPtr<'_> {}
unsafe impl Sync for SyncPtr<'_> {}

impl<'a> SyncPtr<'a> {
    pub fn new(s: &'a mut [f32]) -> Self {
        Self {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            _borrow: PhantomData,
        }
    }

    /// Over memory not yet initialised: for kernels that write every element through
    /// [`SyncPtr::ptr`] before anything reads it (never through [`SyncPtr::slice`]).
    pub fn new_uninit(s: &'a mut [std::mem::MaybeUninit<f32>]) -> Self {
        Self {
            ptr: s.as_mut_ptr().cast(),
            len: s.len(),
            _borrow: PhantomData,
        }
    }

    /// `len` values from `start`.
    ///
    /// # Safety
    /// No other live slice from this pointer may overlap `start..start + len`.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(start + len <= self.len, "{start}+{len} > {}", self.len);
        // SAFETY: in bounds (checked above); disjointness is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The start of the slice, for kernels that write through raw pointers (with the same
    /// disjointness contract as [`SyncPtr::slice`], and their own bounds reasoning).
    pub fn ptr(&self) -> *mut f32 {
        self.ptr
    }
}
