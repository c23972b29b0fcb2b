//! The fake host's services: the `weir_host` table over a [`FakeRequest`].

use super::{FakeRequest, Phase, Reply};
use crate::abi::{self, Header, Host, RawRequest, Str};

/// # Safety
/// `r` is a handle the harness passed to the running hook.
unsafe fn req<'a>(r: *const RawRequest) -> &'a mut FakeRequest {
    // SAFETY: by this function's contract; the harness holds no other reference meanwhile.
    unsafe { &mut *r.cast_mut().cast::<FakeRequest>() }
}

/// # Safety
/// `p` readable for `n` bytes, or `n` 0.
unsafe fn text<'a>(p: *const u8, n: usize) -> Option<&'a str> {
    if n == 0 {
        return Some("");
    }
    // SAFETY: by this function's contract.
    std::str::from_utf8(unsafe { std::slice::from_raw_parts(p, n) }).ok()
}

fn view(s: &str) -> Str {
    Str {
        ptr: s.as_ptr(),
        len: s.len(),
    }
}

/// Headers weir keeps to itself, as the real host does.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "content-length",
];

fn valid_name(n: &str) -> bool {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    !n.is_empty() && n.bytes().all(token) && !HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h))
}

fn valid_value(v: &str) -> bool {
    !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn method(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle (same for every service below).
    view(&unsafe { req(r) }.method)
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn target(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    view(&unsafe { req(r) }.target)
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn path(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    let f = unsafe { req(r) };
    f.path_buf = f.target.split('?').next().unwrap_or("").to_string();
    view(&f.path_buf)
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn set_path(r: *mut RawRequest, p: *const u8, n: usize) -> i32 {
    // SAFETY: the running hook's handle; `p` readable for `n`.
    let (f, p) = unsafe { (req(r), text(p, n)) };
    if f.phase != Phase::Request {
        return abi::EPHASE;
    }
    let Some(p) = p.filter(|p| p.starts_with('/') && !p.contains(['?', '#', ' '])) else {
        return abi::EINVAL;
    };
    let query = f
        .target
        .find('?')
        .map(|i| f.target[i..].to_string())
        .unwrap_or_default();
    f.target = format!("{p}{query}");
    abi::OK
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn header_get(
    r: *const RawRequest,
    part: u32,
    n: *const u8,
    nl: usize,
    i: usize,
    out: *mut Str,
) -> i32 {
    // SAFETY: the running hook's handle; `n` readable; `out` writable.
    let (f, name) = unsafe { (req(r), text(n, nl)) };
    let hit = f.list(part).zip(name).and_then(|(l, name)| {
        l.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .nth(i)
    });
    match hit {
        Some((_, v)) => {
            // SAFETY: `out` writable (ABI).
            unsafe { out.write(view(v)) };
            1
        }
        None => 0,
    }
}
unsafe fn edit(
    r: *mut RawRequest,
    part: u32,
    n: (*const u8, usize),
    v: (*const u8, usize),
    replace: bool,
) -> i32 {
    // SAFETY: the running hook's handle; both views readable.
    let (f, name, value) = unsafe { (req(r), text(n.0, n.1), text(v.0, v.1)) };
    let Some(list) = f.list_mut(part) else {
        return abi::EPHASE;
    };
    let (Some(name), Some(value)) = (name, value) else {
        return abi::EINVAL;
    };
    if !valid_name(name) || !valid_value(value) {
        return abi::EINVAL;
    }
    if replace {
        list.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
    list.push((name.into(), value.into()));
    abi::OK
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn header_set(
    r: *mut RawRequest,
    p: u32,
    n: *const u8,
    nl: usize,
    v: *const u8,
    vl: usize,
) -> i32 {
    // SAFETY: forwarded under the same contract.
    unsafe { edit(r, p, (n, nl), (v, vl), true) }
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn header_add(
    r: *mut RawRequest,
    p: u32,
    n: *const u8,
    nl: usize,
    v: *const u8,
    vl: usize,
) -> i32 {
    // SAFETY: forwarded under the same contract.
    unsafe { edit(r, p, (n, nl), (v, vl), false) }
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn header_remove(r: *mut RawRequest, part: u32, n: *const u8, nl: usize) -> i32 {
    // SAFETY: the running hook's handle; `n` readable.
    let (f, name) = unsafe { (req(r), text(n, nl)) };
    let Some(list) = f.list_mut(part) else {
        return abi::EPHASE;
    };
    let Some(name) = name.filter(|n| valid_name(n)) else {
        return abi::EINVAL;
    };
    let before = list.len();
    list.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    (before - list.len()) as i32
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn status(r: *const RawRequest) -> u32 {
    // SAFETY: the running hook's handle.
    u32::from(unsafe { req(r) }.status)
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn set_status(r: *mut RawRequest, s: u32) -> i32 {
    // SAFETY: the running hook's handle.
    let f = unsafe { req(r) };
    match (f.phase, s) {
        (Phase::Response, 100..=999) => {
            f.status = s as u16;
            abi::OK
        }
        (Phase::Response, _) => abi::EINVAL,
        _ => abi::EPHASE,
    }
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn respond(
    r: *mut RawRequest,
    s: u32,
    h: *const Header,
    n: usize,
    b: *const u8,
    bl: usize,
) -> i32 {
    // SAFETY: the running hook's handle.
    let f = unsafe { req(r) };
    if f.phase != Phase::Request {
        return abi::EPHASE;
    }
    let list = if n == 0 {
        &[][..]
    } else {
        // SAFETY: `h` points at `n` entries (ABI).
        unsafe { std::slice::from_raw_parts(h, n) }
    };
    let mut headers = Vec::new();
    for e in list {
        // SAFETY: each entry's views are readable (ABI).
        match unsafe { (text(e.name, e.name_len), text(e.value, e.value_len)) } {
            (Some(k), Some(v)) if valid_name(k) && valid_value(v) => {
                headers.push((k.to_string(), v.to_string()))
            }
            _ => return abi::EINVAL,
        }
    }
    let body = if bl == 0 {
        Vec::new()
    } else {
        // SAFETY: `b` readable for `bl` (ABI).
        unsafe { std::slice::from_raw_parts(b, bl) }.to_vec()
    };
    f.reply = Some(Reply {
        status: s as u16,
        headers,
        body,
    });
    abi::OK
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn log(r: *const RawRequest, _level: u32, m: *const u8, n: usize) {
    // SAFETY: `m` readable for `n` (ABI).
    let msg = String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(m, n) }).into_owned();
    if r.is_null() {
        eprintln!("fake host: {msg}");
    } else {
        // SAFETY: the running hook's handle.
        unsafe { req(r) }.logs.push(msg);
    }
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn client_ip(r: *const RawRequest, buf: *mut u8, cap: usize) -> usize {
    // SAFETY: the running hook's handle.
    let ip = unsafe { req(r) }.client.to_string();
    if ip.len() <= cap {
        // SAFETY: `buf` writable for `cap` (ABI) and the text fits.
        unsafe { std::ptr::copy_nonoverlapping(ip.as_ptr(), buf, ip.len()) };
    }
    ip.len()
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn upstream_count(r: *const RawRequest) -> usize {
    // SAFETY: the running hook's handle.
    unsafe { req(r) }.upstreams
}

/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn route(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    view(unsafe { req(r) }.route.as_deref().unwrap_or(""))
}
/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn upstream_group(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    view(unsafe { req(r) }.upstream_group.as_deref().unwrap_or(""))
}

/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn original_target(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    let f = unsafe { req(r) };
    view(f.original_target.as_deref().unwrap_or(&f.target))
}

/// # Safety
/// Called by the plugin under test during a hook, as `weir_plugin.h` requires.
unsafe extern "C" fn protocol(r: *const RawRequest) -> Str {
    // SAFETY: the running hook's handle.
    view(&unsafe { req(r) }.protocol)
}

pub(super) static FAKE: Host = Host {
    struct_size: std::mem::size_of::<Host>() as u32,
    abi_version: abi::VERSION,
    method,
    target,
    path,
    set_path,
    header_get,
    header_set,
    header_add,
    header_remove,
    status,
    set_status,
    respond,
    log,
    client_ip,
    upstream_count,
    route,
    upstream_group,
    original_target,
    protocol,
};
