//! The host services, called the way a plugin calls them, on a hand-made [`Call`].

use std::net::IpAddr;

use super::abi::{self, Str};
use super::call::{Call, Req};
use super::host::HOST;
use crate::http::{RequestHead, ResponseHead};

fn request() -> RequestHead {
    let mut r = RequestHead {
        method: "GET".into(),
        target: "/a/b?x=1".into(),
        ..Default::default()
    };
    r.headers.add("X-One", "1").unwrap();
    r.headers.add("x-one", "2").unwrap();
    r
}

fn call<'a>(req: Req<'a>, res: Option<&'a mut ResponseHead>) -> Call<'a> {
    Call {
        name: "test",
        req,
        res,
        status: 0,
        client: IpAddr::from([192, 0, 2, 7]),
        upstreams: 3,
        route: "api-v2",
        upstream_group: "api",
        reply: None,
        throttle: None,
    }
}

fn text(s: Str) -> String {
    // SAFETY: a view the host just returned, read before anything changes.
    String::from_utf8(unsafe { std::slice::from_raw_parts(s.ptr, s.len) }.to_vec()).unwrap()
}

fn set(c: &mut Call<'_>, part: u32, name: &str, value: &str) -> i32 {
    // SAFETY: a live Call and readable views, as during a hook.
    unsafe {
        (HOST.header_set)(
            c.raw(),
            part,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    }
}

#[test]
fn reads_the_request_line_and_every_header_value() {
    let mut req = request();
    let mut c = call(Req::Write(&mut req), None);
    let r = c.raw();
    // SAFETY: as during a hook: a live Call and readable views.
    unsafe {
        assert_eq!(text((HOST.method)(r)), "GET");
        assert_eq!(text((HOST.path)(r)), "/a/b");
        assert_eq!(text((HOST.target)(r)), "/a/b?x=1");
        let mut out = Str {
            ptr: std::ptr::null(),
            len: 0,
        };
        let name = "X-ONE";
        let get = |i, out: &mut Str| {
            (HOST.header_get)(r, abi::PART_REQUEST, name.as_ptr(), name.len(), i, out)
        };
        assert_eq!(get(0, &mut out), 1);
        assert_eq!(text(out), "1");
        assert_eq!(get(1, &mut out), 1);
        assert_eq!(text(out), "2");
        assert_eq!(get(2, &mut out), 0);
        let mut buf = [0u8; 46];
        let n = (HOST.client_ip)(r, buf.as_mut_ptr(), buf.len());
        assert_eq!(&buf[..n], b"192.0.2.7");
        assert_eq!((HOST.upstream_count)(r), 3);
        assert_eq!(text((HOST.route)(r)), "api-v2");
        assert_eq!(text((HOST.upstream_group)(r)), "api");
    }
}

#[test]
fn edits_are_checked_and_framing_headers_are_refused() {
    let mut req = request();
    let mut c = call(Req::Write(&mut req), None);
    assert_eq!(set(&mut c, abi::PART_REQUEST, "X-One", "3"), abi::OK);
    assert_eq!(
        set(&mut c, abi::PART_REQUEST, "X-Bad", "a\r\nEvil: 1"),
        abi::EINVAL
    );
    assert_eq!(set(&mut c, abi::PART_REQUEST, "Bad Name", "v"), abi::EINVAL);
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Connection",
        "Upgrade",
    ] {
        assert_eq!(
            set(&mut c, abi::PART_REQUEST, name, "1"),
            abi::EINVAL,
            "{name}"
        );
    }
    // No response yet in on_request.
    assert_eq!(set(&mut c, abi::PART_RESPONSE, "X-A", "1"), abi::EPHASE);
    let p = "/new";
    // SAFETY: as during a hook.
    unsafe {
        assert_eq!((HOST.set_path)(c.raw(), p.as_ptr(), p.len()), abi::OK);
        let bad = "no-slash";
        assert_eq!(
            (HOST.set_path)(c.raw(), bad.as_ptr(), bad.len()),
            abi::EINVAL
        );
    }
    drop(c);
    assert_eq!(req.target, "/new?x=1");
    assert_eq!(req.headers.get_all("x-one").collect::<Vec<_>>(), [b"3"]);
}

#[test]
fn the_request_is_read_only_after_on_request() {
    let req = request();
    let mut c = call(Req::Read(&req), None);
    assert_eq!(set(&mut c, abi::PART_REQUEST, "X-A", "1"), abi::EPHASE);
    let p = "/x";
    // SAFETY: as during a hook.
    let rc = unsafe { (HOST.set_path)(c.raw(), p.as_ptr(), p.len()) };
    assert_eq!(rc, abi::EPHASE);
    // SAFETY: as during a hook.
    let rc = unsafe { (HOST.respond)(c.raw(), 403, std::ptr::null(), 0, std::ptr::null(), 0) };
    assert_eq!(rc, abi::EPHASE);
}

#[test]
fn on_response_edits_status_and_response_headers() {
    let mut res = ResponseHead {
        status: 200,
        ..Default::default()
    };
    let mut c = call(Req::None, Some(&mut res));
    assert_eq!(set(&mut c, abi::PART_RESPONSE, "X-Served", "weir"), abi::OK);
    // SAFETY: as during a hook.
    unsafe {
        assert_eq!((HOST.status)(c.raw()), 200);
        assert_eq!((HOST.set_status)(c.raw(), 99), abi::EINVAL);
        assert_eq!((HOST.set_status)(c.raw(), 203), abi::OK);
        assert_eq!(text((HOST.path)(c.raw())), "");
    }
    drop(c);
    assert_eq!(res.status, 203);
    assert_eq!(res.headers.get_str("x-served"), Some("weir"));
}

#[test]
fn respond_copies_the_reply() {
    let mut req = request();
    let mut c = call(Req::Write(&mut req), None);
    let (name, value, body) = (
        String::from("X-Why"),
        String::from("policy"),
        b"no\n".to_vec(),
    );
    let h = [abi::Header {
        name: name.as_ptr(),
        name_len: name.len(),
        value: value.as_ptr(),
        value_len: value.len(),
    }];
    // SAFETY: as during a hook; the views are dropped right after, as a plugin may.
    let rc = unsafe { (HOST.respond)(c.raw(), 403, h.as_ptr(), 1, body.as_ptr(), body.len()) };
    drop((name, value, body));
    assert_eq!(rc, abi::OK);
    let reply = c.reply.take().unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(reply.headers.get_str("x-why"), Some("policy"));
    assert_eq!(reply.body, b"no\n");
}
