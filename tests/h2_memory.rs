//! 50 MiB up and 50 MiB down at once on one HTTP/2 connection through the real binary,
//! bodies checked by hash, in bounded memory: the peak resident set (`VmHWM`) the
//! kernel reports for the weir process grows by far less than the bodies. The figure
//! is printed; the README's HTTP/2 section quotes it.
#![cfg(target_os = "linux")]

mod util;

use std::fs;
use std::sync::atomic::AtomicUsize;

use util::bin::{spawn, temp_dir, Running};
use util::h2client::{self, connect, get, read_all};
use util::origin::{ok, origin};
use weir::backend::Mode;

const MIB: usize = 1024 * 1024;
const BODY: usize = 50 * MIB;

/// The peak resident memory of `pid` so far, in KiB.
fn peak_kib(pid: u32) -> usize {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The binary with an h2c listener: `up.test` to `up`, anything else to `files`.
fn weir(files: std::net::SocketAddr, up: std::net::SocketAddr) -> Running {
    let dir = temp_dir("h2-memory");
    let path = dir.join("weir.toml");
    let text = format!(
        r#"listen = [{{ addr = "127.0.0.1:0", h2c = true }}]
threads = 2
[[middleware]]
builtin = "balancer"
[upstreams.files]
servers = ["{files}"]
[upstreams.up]
servers = ["{up}"]
[[routes]]
hosts = ["up.test"]
upstream = "up"
[[routes]]
upstream = "files"
"#
    );
    fs::write(&path, text).unwrap();
    spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    )
    .holding(dir)
}

#[test]
fn fifty_mib_up_and_down_in_bounded_memory() {
    let root = temp_dir("h2-memory-root");
    fs::write(root.join("big.bin"), util::pattern(BODY, 5)).unwrap();
    let files = util::backend(Mode::Dir(root.to_path_buf()));
    // The upload's origin answers with the length and hash of what it read.
    let up = origin(|req| ok(format!("{} {:x}", req.body.len(), util::fnv(&req.body)).as_bytes()));
    let w = weir(files, up.addr);
    let pid = w.child.id();
    let (baseline, (down, answer)) = smol::block_on(async {
        let send = connect(w.addr, 1 << 20).await;
        let res = get(&send, "a.test", "/missing").await.await.unwrap();
        assert_eq!(res.status(), 404);
        let baseline = peak_kib(pid);
        // Both at once on the connection: the download read as it comes, the upload
        // sent as weir's window lets it.
        let download = smol::spawn({
            let response = get(&send, "a.test", "/big.bin").await;
            async move {
                let res = response.await.expect("the download's response");
                assert_eq!(res.status(), 200);
                read_all(res.into_body()).await
            }
        });
        let mut ready = send.clone().ready().await.unwrap();
        let req = http::Request::post("http://up.test/up")
            .header("content-length", BODY.to_string())
            .body(())
            .unwrap();
        let (response, mut out) = ready.send_request(req, false).unwrap();
        let sent = AtomicUsize::new(0);
        h2client::send_pattern(&mut out, BODY, 6, &sent)
            .await
            .expect("the upload goes");
        let res = response.await.expect("the upload's response");
        assert_eq!(res.status(), 200);
        let mut body = res.into_body();
        let mut answer = Vec::new();
        while let Some(data) = body.data().await {
            answer.extend_from_slice(&data.unwrap());
        }
        (baseline, (download.await, answer))
    });
    assert_eq!(down, (BODY, h2client::pattern_hash(BODY, 5)), "download");
    let want = format!("{BODY} {:x}", h2client::pattern_hash(BODY, 6));
    assert_eq!(String::from_utf8_lossy(&answer), want, "upload");
    let peak = peak_kib(pid);
    eprintln!(
        "weir's peak RSS: {} KiB before, {peak} KiB after 50 MiB up and 50 MiB down over h2 (+{} KiB)",
        baseline,
        peak - baseline
    );
    // Under one body's size: a whole body held anywhere would cross it.
    assert!(
        peak - baseline < 32 * 1024,
        "peak RSS grew by {} KiB",
        peak - baseline
    );
}
