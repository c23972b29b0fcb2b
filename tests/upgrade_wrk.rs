//! Three upgrades in the middle of `wrk` load, through the real binary: wrk never retries
//! a request, so a keep-alive connection closed under a request it has just sent shows
//! as a read error (tests/upgrade.rs's clients retry those, as browsers do, and would
//! not notice). Every request must succeed: no socket error of any kind, no non-2xx.
//!
//! Each upgrade is awaited by conditions: `weir upgrade` returns once the new process
//! is ready, the old one's exit is watched in /proc, and the new one is seen carrying
//! the load in its own `/metrics` (only it accepts by then, admin listener included).

mod util;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use util::bin::{run, signal, spawn, write_config};
use util::client::{get, once};
use util::wait::wait_until;
use weir::backend::Mode;

/// How long anything awaited here may take.
const WAIT: Duration = Duration::from_secs(30);

/// Upgrades in one wrk run. Before idle connections were kept through a grace, one
/// upgrade under this load lost a request (a wrk read error) in about two runs of three;
/// three make the test all but sure to catch that race.
const UPGRADES: u64 = 3;

/// wrk's run, at most: past every wait this test may make (seven of [`WAIT`], three
/// upgrades of up to `timeouts.upgrade`'s 30 s: 300 s), so wrk is still running when
/// the last upgrade is over however slow the machine; the test then interrupts it
/// (SIGINT: wrk stops and prints its summary). A fixed 10 s run was the bound before:
/// every run took 10 s, and a machine that took longer for three upgrades failed.
const LOAD: &str = "600s";

/// Requests each process must have answered before the next step: the load is on it.
const SERVED: f64 = 500.0;

/// The access log, to /dev/null: on stderr's pipe it would be most of what the test
/// reads, and on stdout (the default) it would fill a pipe nobody reads.
const QUIET_LOG: &str = "[[middleware]]\nbuiltin = \"log\"\nconfig = { path = \"/dev/null\" }\n";

/// A process an upgrade started; killed when the test ends.
struct Pid(u32);

impl Drop for Pid {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

/// `weir upgrade --pid pid`, which returns once the new process is ready: its pid.
fn upgrade(pid: u32) -> Pid {
    let out = run(&["upgrade", "--pid", &pid.to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weir upgrade failed: {stderr}");
    let new = stdout
        .split_whitespace()
        .skip_while(|w| *w != "process")
        .nth(1)
        .and_then(|p| p.parse().ok());
    Pid(new.unwrap_or_else(|| panic!("no pid in {stdout:?}")))
}

/// Whether process `pid` has exited. An upgraded process is not this test's child (its
/// parent is the process it replaced), so once that parent is gone nobody may reap it:
/// a zombie counts as exited.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses: `pid (comm) S ...`.
        Ok(stat) => matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().as_bytes()[0]),
            Some(b'Z' | b'X')
        ),
        Err(_) => true,
    }
}

/// The 2xx answers counted in the `/metrics` of the process that accepts on `admin`.
fn answered(admin: SocketAddr) -> f64 {
    util::admin::scrape(admin)
        .lines()
        .filter(|l| l.starts_with("weir_requests_total{") && l.contains("code_class=\"2xx\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the process accepting on `admin` has answered [`SERVED`] requests.
fn carries_the_load(admin: SocketAddr, what: &str) {
    wait_until(WAIT, what, || answered(admin) >= SERVED)
}

/// wrk with one thread and 50 keep-alive connections against `addr`, for [`LOAD`] or
/// until [`Wrk::interrupt`]. A 5 s request timeout (2 s by default): a slow answer on a
/// loaded machine is not what is tested, a lost one still shows.
fn wrk(addr: SocketAddr) -> Wrk {
    let child = Command::new("wrk")
        .args(["-t1", "-c50", "-d", LOAD, "--timeout", "5s"])
        .arg(format!("http://{addr}/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wrk runs (apt-get install wrk)");
    Wrk(Some(child))
}

/// A running wrk, killed if the test ends before interrupting it (a failed assertion
/// would otherwise leave it loading the machine for the rest of [`LOAD`]).
struct Wrk(Option<Child>);

impl Wrk {
    fn running(&mut self) -> bool {
        let child = self.0.as_mut().expect("wrk not yet interrupted");
        child.try_wait().unwrap().is_none()
    }

    /// Stops wrk with SIGINT, as Ctrl-C would: it prints its summary and exits 0.
    fn interrupt(mut self) -> std::process::Output {
        let child = self.0.take().expect("wrk interrupted once");
        signal(&child, "INT");
        child.wait_with_output().unwrap()
    }
}

impl Drop for Wrk {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What wrk's summary says.
#[derive(Debug)]
struct Summary {
    requests: u64,
    /// The `Socket errors:` line, which wrk prints only when there were some.
    socket_errors: Option<String>,
    /// `Non-2xx or 3xx responses:`, printed only when there were some.
    not_2xx: u64,
}

fn summary(out: &str) -> Summary {
    let after = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix).map(str::trim))
    };
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{out}"));
    Summary {
        requests,
        socket_errors: after("Socket errors:").map(str::to_string),
        not_2xx: after("Non-2xx or 3xx responses:").map_or(0, |n| n.parse().unwrap()),
    }
}

#[test]
fn three_upgrades_under_wrk_load_fail_no_request() {
    let origin = util::backend(Mode::Name("origin".into()));
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nservers = [\"{origin}\"]\n{QUIET_LOG}"
    );
    let config = write_config("upgrade-wrk", &text);
    let mut weir = spawn(&["serve", "--config", &config], "stderr", "listening on");
    let admin = util::admin::announced(&weir);
    let mut load = wrk(weir.addr);
    let began = Instant::now();
    carries_the_load(admin, "wrk's load reaches weir");

    // The first process is this test's child; the later ones are not (see `exited`).
    let mut serving = upgrade(weir.child.id());
    wait_until(WAIT, "the first process drains and exits", || {
        weir.child.try_wait().unwrap().is_some()
    });
    for n in 2..=UPGRADES {
        carries_the_load(admin, &format!("process {n} serves"));
        let old = serving;
        serving = upgrade(old.0);
        wait_until(WAIT, &format!("process {n} drains and exits"), || {
            exited(old.0)
        });
    }
    carries_the_load(admin, "the last process serves");
    eprintln!(
        "{UPGRADES} upgrades over in {:?} of wrk's load",
        began.elapsed()
    );
    assert!(
        load.running(),
        "wrk's {LOAD} ended before the last upgrade was over: the test proved nothing"
    );

    let out = load.interrupt();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk: {text}");
    let s = summary(&text);
    eprintln!("{s:?}");
    assert_eq!(s.socket_errors, None, "wrk saw socket errors:\n{text}");
    assert_eq!(s.not_2xx, 0, "wrk saw non-2xx answers:\n{text}");
    assert!(s.requests >= (UPGRADES + 1) * SERVED as u64, "{text}");
    // The last process serves on its own, after the load, on a fresh connection.
    assert!(!exited(serving.0));
    assert_eq!(once(weir.addr, &get("/")).status, 200);
}
