//! The `extern "C"` functions behind [`crate::export!`], generic over the plugin type.
//!
//! Every one runs its body through `guard`: a panic becomes the hook's failure value
//! and one log line through the host, never an unwind into weir (which would abort).

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

use crate::abi::{self, Host, RawRequest};
use crate::{Action, Plugin, Request, Summary};

/// One instance: the plugin value and the host it talks to.
struct Instance<P> {
    plugin: P,
    host: &'static Host,
}

thread_local! {
    /// The last panic message on this thread, captured by our silent panic hook.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs this library's panic hook: it records the message instead of printing it,
/// so [`guard`] can log it once through the host. A cdylib has its own copy of std, so
/// this hook is the plugin's alone and leaves weir's untouched.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let _ = PANIC.try_with(|p| *p.borrow_mut() = Some(info.to_string()));
        }));
    });
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(m) = PANIC.try_with(|p| p.borrow_mut().take()).ok().flatten() {
        return m.replace('\n', " ");
    }
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".into(),
    }
}

/// Runs `f`; a panic is logged through `host` (with `r` for the instance name) and
/// turned into `failed`.
fn guard<R>(host: &Host, r: *const RawRequest, hook: &str, failed: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let line = format!("{hook} panicked: {}", message(&*payload));
            // SAFETY: `r` is the hook's handle or NULL, both allowed by the ABI.
            unsafe { (host.log)(r, abi::LOG_ERROR, line.as_ptr(), line.len()) };
            failed
        }
    }
}

/// Copies `msg` into the host's error buffer, NUL-terminated and truncated to fit.
///
/// # Safety
/// `err` writable for `cap` bytes, or NULL.
unsafe fn write_err(err: *mut c_char, cap: usize, msg: &str) {
    if err.is_null() || cap == 0 {
        return;
    }
    let n = msg.len().min(cap - 1);
    // SAFETY: by this function's contract, with `n + 1 <= cap`.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), err.cast::<u8>(), n);
        *err.add(n) = 0;
    }
}

/// The descriptor for `P`, built at compile time into a static by [`crate::export!`].
pub const fn descriptor<P: Plugin>() -> abi::Plugin {
    let stateless = std::mem::size_of::<P::State>() == 0 && !std::mem::needs_drop::<P::State>();
    abi::Plugin {
        struct_size: std::mem::size_of::<abi::Plugin>() as u32,
        reserved: 0,
        name: P::NAME.as_ptr(),
        instance_new: Some(instance_new::<P>),
        instance_free: Some(instance_free::<P>),
        request_new: if stateless {
            None
        } else {
            Some(request_new::<P>)
        },
        request_free: if stateless {
            None
        } else {
            Some(request_free::<P>)
        },
        on_request: Some(on_request::<P>),
        choose_upstream: Some(choose_upstream::<P>),
        on_response: Some(on_response::<P>),
        on_complete: Some(on_complete::<P>),
    }
}

/// The body of the exported `weir_plugin_init_v1`.
///
/// # Safety
/// Called by the host as the ABI says.
pub unsafe fn init(
    host: *const Host,
    err: *mut c_char,
    cap: usize,
    desc: &'static abi::Plugin,
) -> *const abi::Plugin {
    quiet_panics();
    if host.is_null() {
        // SAFETY: the ABI's err buffer.
        unsafe { write_err(err, cap, "host table is NULL") };
        return std::ptr::null();
    }
    desc
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn instance_new<P: Plugin>(
    host: *const Host,
    json: *const u8,
    len: usize,
    out: *mut *mut c_void,
    err: *mut c_char,
    cap: usize,
) -> i32 {
    // SAFETY: the host table lives for the whole process (ABI).
    let host: &'static Host = unsafe { &*host };
    let made = guard(
        host,
        std::ptr::null(),
        "instance_new",
        Err("panicked".into()),
        || {
            // SAFETY: `json` readable for `len` (ABI).
            let text = unsafe { bytes(json, len) };
            let config: P::Config = crate::config::parse(text)?;
            P::new(config)
        },
    );
    match made {
        Ok(plugin) => {
            let instance = Box::new(Instance { plugin, host });
            // SAFETY: `out` is a writable out-pointer (ABI).
            unsafe { out.write(Box::into_raw(instance).cast()) };
            abi::OK
        }
        Err(why) => {
            // SAFETY: the ABI's err buffer.
            unsafe { write_err(err, cap, &why) };
            abi::FAIL
        }
    }
}

/// # Safety
/// `ptr` readable for `len`, or `len` 0.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: by this function's contract.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn instance_free<P: Plugin>(instance: *mut c_void) {
    // SAFETY: made by `instance_new::<P>`; the host frees it once, after its last hook.
    let instance = unsafe { Box::from_raw(instance.cast::<Instance<P>>()) };
    let host = instance.host;
    guard(host, std::ptr::null(), "instance_free", (), move || {
        drop(instance)
    });
}

/// # Safety
/// `instance` from `instance_new::<P>`, alive.
unsafe fn get<'a, P>(instance: *mut c_void) -> &'a Instance<P> {
    // SAFETY: by this function's contract.
    unsafe { &*instance.cast::<Instance<P>>() }
}

/// Runs `f` with this request's state: the boxed one, or a fresh `()`-like value when
/// the plugin is stateless (and the host passed NULL).
///
/// # Safety
/// `state` from `request_new::<P>` of this request, or NULL.
unsafe fn with_state<P: Plugin, R>(state: *mut c_void, f: impl FnOnce(&mut P::State) -> R) -> R {
    if state.is_null() {
        return f(&mut P::State::default());
    }
    // SAFETY: by this function's contract; hooks of one request never overlap.
    f(unsafe { &mut *state.cast::<P::State>() })
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn request_new<P: Plugin>(
    instance: *mut c_void,
    r: *mut RawRequest,
    out: *mut *mut c_void,
) -> i32 {
    // SAFETY: a live instance (ABI).
    let i = unsafe { get::<P>(instance) };
    let state = guard(i.host, r, "request_new", None, || {
        Some(Box::new(P::State::default()))
    });
    match state {
        Some(s) => {
            // SAFETY: `out` is a writable out-pointer (ABI).
            unsafe { out.write(Box::into_raw(s).cast()) };
            abi::OK
        }
        None => abi::FAIL,
    }
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn request_free<P: Plugin>(instance: *mut c_void, state: *mut c_void) {
    // SAFETY: a live instance; `state` from `request_new::<P>`, freed once (ABI).
    let (i, state) = unsafe { (get::<P>(instance), Box::from_raw(state.cast::<P::State>())) };
    guard(i.host, std::ptr::null(), "request_free", (), move || {
        drop(state)
    });
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn on_request<P: Plugin>(
    instance: *mut c_void,
    state: *mut c_void,
    r: *mut RawRequest,
) -> i32 {
    // SAFETY: a live instance and the hook's handle (ABI).
    let (i, mut req) = unsafe { (get::<P>(instance), Request::new(get::<P>(instance).host, r)) };
    guard(i.host, r, "on_request", abi::FAIL, || {
        // SAFETY: this request's state (ABI).
        match unsafe { with_state::<P, _>(state, |s| i.plugin.on_request(s, &mut req)) } {
            Action::Continue => abi::CONTINUE,
            Action::Respond(_) => abi::RESPOND,
            Action::Fail => abi::FAIL,
        }
    })
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn choose_upstream<P: Plugin>(
    instance: *mut c_void,
    state: *mut c_void,
    r: *mut RawRequest,
) -> i32 {
    // SAFETY: a live instance and the hook's handle (ABI).
    let (i, req) = unsafe { (get::<P>(instance), Request::new(get::<P>(instance).host, r)) };
    guard(i.host, r, "choose_upstream", abi::UPSTREAM_FAIL, || {
        // SAFETY: this request's state (ABI).
        let pick = unsafe { with_state::<P, _>(state, |s| i.plugin.choose_upstream(s, &req)) };
        pick.and_then(|i| i32::try_from(i).ok())
            .unwrap_or(abi::PASS)
    })
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn on_response<P: Plugin>(
    instance: *mut c_void,
    state: *mut c_void,
    r: *mut RawRequest,
) -> i32 {
    // SAFETY: a live instance and the hook's handle (ABI).
    let (i, mut res) = unsafe { (get::<P>(instance), Request::new(get::<P>(instance).host, r)) };
    guard(i.host, r, "on_response", abi::FAIL, || {
        // SAFETY: this request's state (ABI).
        match unsafe { with_state::<P, _>(state, |s| i.plugin.on_response(s, &mut res)) } {
            Ok(()) => abi::CONTINUE,
            Err(_) => abi::FAIL,
        }
    })
}

/// # Safety
/// Called by the host as `weir_plugin.h` requires for this entry point.
unsafe extern "C" fn on_complete<P: Plugin>(
    instance: *mut c_void,
    state: *mut c_void,
    r: *const RawRequest,
    summary: *const abi::Summary,
) {
    // SAFETY: a live instance, the hook's handle and summary (ABI). The view is used
    // read-only: `Request`'s setters need `&mut`, which on_complete never hands out.
    let (i, req, s) = unsafe {
        let i = get::<P>(instance);
        (i, Request::new(i.host, r.cast_mut()), &*summary)
    };
    let summary = Summary {
        status: s.status as u16,
        upstream: usize::try_from(s.upstream).ok(),
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        duration: Duration::from_micros(s.duration_us),
    };
    guard(i.host, r, "on_complete", (), || {
        // SAFETY: this request's state (ABI).
        unsafe { with_state::<P, _>(state, |st| i.plugin.on_complete(st, &req, &summary)) }
    });
}
