//! Per-request plugin state (`request_new` / `request_free`), kept in [`Ctx`].
//!
//! Each plugin instance that declares `request_new` owns one slot, numbered when the
//! chain is built. The vector grows on first use, so requests through a chain without
//! such plugins never allocate. State is freed after the plugin's `on_complete`, or by
//! `Drop` if the request was abandoned before it (a cancelled connection task), so
//! `request_new` and `request_free` always balance.
//!
//! [`Ctx`]: crate::Ctx

use std::ffi::c_void;
use std::fmt;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::abi::RequestFree;

struct Owner {
    free: Option<RequestFree>,
    instance: *mut c_void,
}

#[derive(Default)]
struct Slot {
    /// `Some` once `request_new` ran for this request.
    owner: Option<Owner>,
    /// Atomic only so that `on_complete`, which sees `&Ctx`, can take it out.
    state: AtomicPtr<c_void>,
}

/// The plugin states of one request.
#[derive(Default)]
pub struct RequestStates {
    slots: Vec<Slot>,
}

// SAFETY: the pointers are the plugin's; the ABI lets the hooks of one request (and so
// its state) move between threads, and `instance` is shared by design.
unsafe impl Send for RequestStates {}
// SAFETY: shared access only ever swaps the state pointer atomically.
unsafe impl Sync for RequestStates {}

impl RequestStates {
    /// The state in `slot`, if `request_new` already ran for it.
    pub(super) fn get(&self, slot: usize) -> Option<*mut c_void> {
        let s = self.slots.get(slot)?;
        s.owner.as_ref()?;
        Some(s.state.load(Ordering::Relaxed))
    }

    pub(super) fn insert(
        &mut self,
        slot: usize,
        state: *mut c_void,
        free: Option<RequestFree>,
        instance: *mut c_void,
    ) {
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, Slot::default);
        }
        let s = &mut self.slots[slot];
        s.owner = Some(Owner { free, instance });
        *s.state.get_mut() = state;
    }

    /// Takes the state out (for `on_complete`): `None` if `request_new` never ran.
    pub(super) fn take(&self, slot: usize) -> Option<*mut c_void> {
        let s = self.slots.get(slot)?;
        s.owner.as_ref()?;
        Some(s.state.swap(null_mut(), Ordering::Relaxed))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let state = *self.state.get_mut();
        if let (
            Some(Owner {
                free: Some(free),
                instance,
            }),
            false,
        ) = (&self.owner, state.is_null())
        {
            // SAFETY: `state` came from this instance's `request_new` and was not freed:
            // `take` nulls it before `on_complete` frees it.
            unsafe { free(*instance, state) };
        }
    }
}

impl fmt::Debug for RequestStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestStates({} slots)", self.slots.len())
    }
}
