//! Reloads: new config for new requests, in-flight ones finish, nothing fails, a bad
//! config is refused and the old one keeps serving.

mod util;

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use util::bin::{signal, spawn, temp_dir};
use util::client::{get, once, Conn};
use weir::Proxy;

#[test]
fn ten_reloads_under_load_fail_no_request() {
    let backends = util::named_backends(3);
    let generation = Arc::new(AtomicUsize::new(0));
    let source = {
        let (backends, generation) = (backends.clone(), generation.clone());
        move || {
            // Each generation serves a different pair of backends with other weights.
            let g = generation.load(Ordering::SeqCst);
            let mut c = util::config(&[backends[g % 3], backends[(g + 1) % 3]]);
            c.upstream.servers[0].weight = 1 + (g % 2) as u32;
            Ok(c)
        }
    };
    let server = Proxy::new(source().unwrap())
        .handle_signals(false)
        .reload_from(source)
        .bind()
        .unwrap();
    let (addr, handle) = (server.local_addr(), server.handle());
    let runner = thread::spawn(move || server.run());

    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..4)
        .map(|_| {
            let (done, served, failed) = (done.clone(), served.clone(), failed.clone());
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                while !done.load(Ordering::SeqCst) {
                    c.send(&get("/"));
                    match c.read(false) {
                        Some(r) if r.status == 200 => served.fetch_add(1, Ordering::SeqCst),
                        _ => {
                            c = Conn::open(addr);
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    for g in 1..=10 {
        // Wait for traffic to flow on the current generation before the next reload.
        let before = served.load(Ordering::SeqCst);
        while served.load(Ordering::SeqCst) < before + 50 {
            thread::yield_now();
        }
        generation.store(g, Ordering::SeqCst);
        handle.reload();
    }
    let before = served.load(Ordering::SeqCst);
    while served.load(Ordering::SeqCst) < before + 50 {
        thread::yield_now();
    }
    done.store(true, Ordering::SeqCst);
    for h in hammers {
        h.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed across reloads"
    );
    // Generation 10 serves indices 10 % 3 and 11 % 3, "backend 2" and "backend 3":
    // "backend 1" must be out of rotation once the last reload is in force. Reloads are
    // built off the serving threads, so the last one lands a moment after it was asked.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut answers: Vec<String> = Vec::new();
    while std::time::Instant::now() < deadline {
        answers = (0..6).map(|_| once(addr, &get("/")).text()).collect();
        if answers.iter().all(|a| a != "backend 1\n") {
            break;
        }
    }
    assert!(
        answers.iter().all(|a| a != "backend 1\n"),
        "old upstreams still used: {answers:?}"
    );
    handle.stop();
    runner.join().unwrap().unwrap();
}

#[test]
fn sighup_rereads_the_file_and_refuses_a_broken_one() {
    let backends = util::named_backends(2);
    let dir = temp_dir("sighup");
    let path = dir.join("weir.toml");
    let write = |servers: &str| {
        fs::write(&path, format!("listen = \"127.0.0.1:0\"\n[upstream]\nservers = [{servers}]\n[[middleware]]\nbuiltin = \"balancer\"\n")).unwrap()
    };
    write(&format!("\"{}\"", backends[0]));
    let mut weir = spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    assert_eq!(once(weir.addr, &get("/")).text(), "backend 1\n");

    write(&format!("\"{}\"", backends[1]));
    signal(&weir.child, "HUP");
    // The reload is asynchronous: ask until the new upstream answers (bounded).
    let switched = (0..5000).any(|_| once(weir.addr, &get("/")).text() == "backend 2\n");
    assert!(switched, "SIGHUP did not apply the new config");

    fs::write(&path, "this is not toml = = =").unwrap();
    signal(&weir.child, "HUP");
    for _ in 0..50 {
        assert_eq!(
            once(weir.addr, &get("/")).text(),
            "backend 2\n",
            "a broken config must not replace a good one"
        );
    }
    assert!(
        weir.child.try_wait().unwrap().is_none(),
        "weir is still running"
    );
    signal(&weir.child, "TERM");
    assert!(weir.child.wait().unwrap().success());
}

#[test]
fn regression_a_connection_idle_across_a_reload_serves_its_next_request_on_the_new_config() {
    let backends = util::named_backends(2);
    let generation = Arc::new(AtomicUsize::new(0));
    let source = {
        let (backends, generation) = (backends.clone(), generation.clone());
        move || Ok(util::config(&[backends[generation.load(Ordering::SeqCst)]]))
    };
    let server = Proxy::new(source().unwrap())
        .handle_signals(false)
        .reload_from(source)
        .bind()
        .unwrap();
    let (addr, handle) = (server.local_addr(), server.handle());
    let runner = thread::spawn(move || server.run());

    let mut idle = Conn::open(addr);
    assert_eq!(idle.roundtrip(&get("/")).text(), "backend 1\n");
    generation.store(1, Ordering::SeqCst);
    handle.reload();
    // The reload is asynchronous: ask on fresh connections until it is in force.
    let applied = (0..5000).any(|_| once(addr, &get("/")).text() == "backend 2\n");
    assert!(applied, "the reload was applied");
    // The connection idled through the reload: its next request starts now, so it runs
    // on the engine in force now (it used to keep the one from before its wait).
    assert_eq!(idle.roundtrip(&get("/")).text(), "backend 2\n");
    handle.stop();
    runner.join().unwrap().unwrap();
}

#[test]
fn regression_a_sighup_right_after_listening_reloads_instead_of_killing_weir() {
    // SIGHUP's default action ends a process: weir must catch it before it says it is
    // listening, not once its serving task first runs.
    let backend = util::named_backends(1)[0];
    let dir = temp_dir("early-hup");
    let path = dir.join("weir.toml");
    let text = format!("listen = \"127.0.0.1:0\"\n[upstream]\nservers = [\"{backend}\"]\n");
    fs::write(&path, text).unwrap();
    for _ in 0..5 {
        let mut weir = spawn(
            &["serve", "--config", path.to_str().unwrap()],
            "stderr",
            "listening on",
        );
        signal(&weir.child, "HUP");
        let reloaded = weir
            .later
            .wait_for("weir: reloaded", std::time::Duration::from_secs(20));
        assert!(reloaded.is_some(), "{:?}", weir.later.snapshot());
        assert_eq!(once(weir.addr, &get("/")).text(), "backend 1\n");
        signal(&weir.child, "TERM");
        assert!(weir.child.wait().unwrap().success());
    }
}

#[test]
fn a_threads_change_on_sighup_says_it_needs_a_restart_with_both_values() {
    let backend = util::named_backends(1)[0];
    let dir = temp_dir("threads-hup");
    let path = dir.join("weir.toml");
    let write = |threads: usize| {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nthreads = {threads}\n[upstream]\nservers = [\"{backend}\"]\n"
        );
        fs::write(&path, text).unwrap()
    };
    write(1);
    let mut weir = spawn(
        &["serve", "--config", path.to_str().unwrap()],
        "stderr",
        "listening on",
    );
    write(3);
    signal(&weir.child, "HUP");
    let limit = std::time::Duration::from_secs(20);
    let said = weir.later.wait_for("threads changed", limit);
    assert_eq!(
        said.as_deref(),
        Some("weir: threads changed from 1 to 3; it takes effect on restart (still running 1)"),
        "{:?}",
        weir.later.snapshot()
    );
    // The rest of the reload stands, and weir keeps serving.
    assert!(weir.later.wait_for("weir: reloaded", limit).is_some());
    assert_eq!(once(weir.addr, &get("/")).text(), "backend 1\n");
    signal(&weir.child, "TERM");
    assert!(weir.child.wait().unwrap().success());
}
