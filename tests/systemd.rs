//! Running under systemd, without systemd: the test plays the service manager. It sets
//! `NOTIFY_SOCKET` to a datagram socket it reads (sd_notify), and starts weir under
//! `systemd-socket-activate`, which passes a listening socket as systemd does
//! (`LISTEN_FDS`/`LISTEN_PID`, descriptor 3).

mod util;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use util::bin::{signal, spawn_command, temp_dir, weir, write_config, ConfigFile};
use util::client::{get, once};
use util::ports::free_port;

/// How long a message from weir may take to arrive.
const WAIT: Duration = Duration::from_secs(20);

/// A minimal config serving `listen` in front of one backend.
fn config(name: &str, listen: &str) -> ConfigFile {
    let backend = util::named_backends(1)[0];
    let text = format!("listen = \"{listen}\"\n[upstream]\nservers = [\"{backend}\"]\n");
    write_config(name, &text)
}

/// The next datagram weir sends, as text; panics after [`WAIT`].
fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = socket
        .recv(&mut buf)
        .expect("a notify message within the wait");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn notify_says_ready_reloading_ready_stopping_in_order() {
    let dir = temp_dir("notify");
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let config = config("notify-config", "127.0.0.1:0");
    let mut cmd = weir();
    cmd.args(["serve", "--config", &config])
        .env("NOTIFY_SOCKET", &path);
    let weir = spawn_command(cmd, "stderr", "listening on");

    let ready = next(&socket);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert_eq!(once(weir.addr, &get("/")).status, 200);

    signal(&weir.child, "HUP");
    let reloading = next(&socket);
    assert!(
        reloading.lines().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    let usec = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="));
    assert!(
        usec.is_some_and(|u| u.parse::<u64>().is_ok_and(|u| u > 0)),
        "{reloading:?}"
    );
    let ready = next(&socket);
    assert!(
        ready.lines().any(|l| l == "READY=1"),
        "after the reload: {ready:?}"
    );

    signal(&weir.child, "TERM");
    let stopping = next(&socket);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
}

#[test]
fn notify_reaches_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("weir-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let config = config("notify-abstract", "127.0.0.1:0");
    let mut cmd = weir();
    cmd.args(["serve", "--config", &config])
        .env("NOTIFY_SOCKET", format!("@{name}"));
    let weir = spawn_command(cmd, "stderr", "listening on");
    assert!(next(&socket).contains("READY=1"));
    signal(&weir.child, "TERM");
    assert!(next(&socket).contains("STOPPING=1"));
}

/// weir under `systemd-socket-activate` listening on `addrs`, once it announced that it
/// listens (it is started on the first connection, which the caller then makes).
/// Retries on another port should one be taken in between.
struct Activated {
    child: std::process::Child,
    /// weir's stderr, line by line, read by a thread of its own.
    stderr: mpsc::Receiver<String>,
    addrs: Vec<SocketAddr>,
    /// weir reads it on the first connection, and again on SIGHUP.
    _config: ConfigFile,
}

impl Activated {
    /// The first line from now on holding `text`; panics after [`WAIT`] or at the end.
    fn line_with(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no line with {text:?} from weir: {e}"),
            }
        }
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn activate(name: &str, sockets: usize, listen: usize) -> Activated {
    for _ in 0..5 {
        let addrs: Vec<SocketAddr> = (0..sockets).map(|_| free_port()).collect();
        let listed: Vec<String> = addrs[..listen].iter().map(|a| format!("\"{a}\"")).collect();
        let backend = util::named_backends(1)[0];
        let text = format!(
            "listen = [{}]\n[upstream]\nservers = [\"{backend}\"]\n",
            listed.join(", ")
        );
        let config = write_config(name, &text);
        let mut cmd = Command::new("systemd-socket-activate");
        for a in &addrs {
            cmd.arg("-l").arg(a.to_string());
        }
        cmd.arg(env!("CARGO_BIN_EXE_weir"))
            .args(["serve", "--config", &config]);
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate runs");
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        // One "Listening on ADDR as FD." line per socket, or a failure to bind.
        let bound = (0..sockets).all(|_| {
            stderr
                .next()
                .and_then(Result::ok)
                .is_some_and(|l| l.starts_with("Listening on"))
        });
        if bound {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in stderr.map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            return Activated {
                child,
                stderr: rx,
                addrs,
                _config: config,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("systemd-socket-activate could not bind a free port in five tries");
}

#[test]
fn passed_socket_serves_in_place_of_binding() {
    let weir = activate("activation", 1, 1);
    let addr = weir.addrs[0];
    // weir starts on this first connection, which waits in the passed socket's queue;
    // had weir tried to bind the same address it would have failed (address in use).
    assert_eq!(once(addr, &get("/")).status, 200);
    let announced = weir.line_with("listening on");
    assert!(announced.contains(&format!("http://{addr}")), "{announced}");
    // The passed socket is descriptor 3 of the serving process, no longer inheritable.
    let fdinfo = std::fs::read_to_string(format!("/proc/{}/fdinfo/3", weir.child.id())).unwrap();
    let flags = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .unwrap();
    let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
    assert_ne!(flags & 0o2000000, 0, "O_CLOEXEC set on fd 3: {fdinfo}");
    // A reload keeps the passed socket: it is known by its configured address.
    signal_pid(weir.child.id(), "HUP");
    weir.line_with("reloaded");
    assert_eq!(once(addr, &get("/")).status, 200);
}

#[test]
fn passed_socket_no_entry_names_is_closed_with_a_warning() {
    let weir = activate("activation-extra", 2, 1);
    let (listed, extra) = (weir.addrs[0], weir.addrs[1]);
    assert_eq!(once(listed, &get("/")).status, 200);
    let warning = weir.line_with("socket activation");
    assert!(warning.contains(&extra.to_string()), "{warning}");
    assert!(warning.contains("no `listen` entry"), "{warning}");
    // Closed before weir announces itself, and weir is its only holder
    // (systemd-socket-activate execs it).
    weir.line_with("listening on");
    let refused = std::net::TcpStream::connect(extra);
    assert!(refused.is_err(), "nothing listens on {extra} any more");
}

fn signal_pid(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
    assert!(ok.unwrap().success());
}
