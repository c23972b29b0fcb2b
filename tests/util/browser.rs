//! A real browser for tests: headless Chromium, bounded in time, with a fresh profile
//! each run, and a one-page web server to play another site's part.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Longest one Chromium run may take before the test fails.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Runs headless Chromium with `args` (after the fixed flags below), bounded by
/// [`BROWSER_LIMIT`], with a fresh profile in `profile`.
pub fn chromium(profile: &Path, args: &[String]) -> Output {
    let _ = std::fs::remove_dir_all(profile);
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Virtual time: a page's timers run without waiting in real time, while its
            // fetches are real.
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (Debian package `chromium`; .ci/run installs it)");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BROWSER_LIMIT) {
        Ok(out) => out.expect("chromium ran"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
    }
}

/// One page of [`serve_pages`]: its path, content type and body.
pub type Page = (&'static str, &'static str, String);

/// Serves `pages` on a new port of `ip` until the test process ends: a web site of
/// another origin than the one under test. Anything else is 404.
pub fn serve_pages(ip: &str, pages: Vec<Page>) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("bind the page server");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            // The rest of the head; no request here has a body worth reading.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split(' ').nth(1).unwrap_or("/");
            let (status, kind, body) = match pages.iter().find(|(p, _, _)| *p == path) {
                Some((_, kind, body)) => ("200 OK", *kind, body.as_str()),
                None => ("404 Not Found", "text/plain", "not here"),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}
