//! `--dir`: static files and directory listings, refusing any path outside the root.
//!
//! The target is percent-decoded first, then split into segments: any `..` segment
//! (including `%2e%2e` and `%2F`-smuggled ones) is 403, and the final path is
//! canonicalised and must still lie under the canonical root (no symlink escapes).
//! Files are read synchronously in 64 KiB pieces: this server is for labs and tests.

use std::fs::{self, File};
use std::io::{self, IoSlice, Read};
use std::path::{Path, PathBuf};

use super::reply;
use crate::http::body::write_all_vectored;
use crate::http::write::{self, Framing};
use crate::http::{RequestHead, ResponseHead};
use crate::rt::TcpStream;

/// Decodes `%XX` escapes; `None` for a malformed escape or a NUL.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    (!out.contains(&0)).then_some(out)
}

/// Where `target` points under `root`: `Err(status)` for a bad or escaping path.
pub fn resolve(root: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path).ok_or(400u16)?;
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    let mut full = root.to_path_buf();
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => return Err(403),
            s => full.push(s),
        }
    }
    let canon_root = root.canonicalize().map_err(|_| 404u16)?;
    let canon = full.canonicalize().map_err(|_| 404u16)?;
    if canon.starts_with(&canon_root) {
        Ok(canon)
    } else {
        Err(403)
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn href_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn listing(dir: &Path, shown: &str) -> io::Result<String> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    let title = html_escape(shown);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Directory listing for {title}</title>\n</head>\n<body>\n<h1>Directory listing for {title}</h1>\n<hr>\n<ul>\n"
    );
    for n in names {
        let href = href_escape(n.trim_end_matches('/')) + if n.ends_with('/') { "/" } else { "" };
        html += &format!("<li><a href=\"{href}\">{}</a></li>\n", html_escape(&n));
    }
    html += "</ul>\n<hr>\n</body>\n</html>\n";
    Ok(html)
}

/// Answers one GET or HEAD from the directory `root`.
pub async fn serve(
    stream: &TcpStream,
    out: &mut Vec<u8>,
    root: &Path,
    req: &RequestHead,
    keep: bool,
) -> io::Result<()> {
    let head_only = req.is_head();
    if req.method != "GET" && !head_only {
        return reply(
            stream,
            out,
            405,
            "text/plain",
            b"405 Method Not Allowed\n",
            keep,
            false,
        )
        .await;
    }
    let path = match resolve(root, &req.target) {
        Ok(p) => p,
        Err(status) => {
            let body = format!("{status}\n");
            return reply(
                stream,
                out,
                status,
                "text/plain",
                body.as_bytes(),
                keep,
                head_only,
            )
            .await;
        }
    };
    if path.is_dir() {
        let shown = req.path();
        if !shown.ends_with('/') {
            let mut res = ResponseHead {
                status: 301,
                ..Default::default()
            };
            let _ = res.headers.add("Location", format!("{shown}/"));
            write::local_response_head(out, &res, Framing::Length(0), (!keep).then_some("close"));
            return write_all_vectored(&mut &*stream, &mut [IoSlice::new(out)]).await;
        }
        let index = path.join("index.html");
        if !index.is_file() {
            let html = listing(&path, shown)?;
            return reply(
                stream,
                out,
                200,
                "text/html; charset=utf-8",
                html.as_bytes(),
                keep,
                head_only,
            )
            .await;
        }
        return send_file(stream, out, &index, keep, head_only).await;
    }
    send_file(stream, out, &path, keep, head_only).await
}

async fn send_file(
    stream: &TcpStream,
    out: &mut Vec<u8>,
    path: &Path,
    keep: bool,
    head_only: bool,
) -> io::Result<()> {
    let Ok(mut file) = File::open(path) else {
        return reply(stream, out, 403, "text/plain", b"403\n", keep, head_only).await;
    };
    let len = file.metadata()?.len();
    let mut res = ResponseHead {
        status: 200,
        ..Default::default()
    };
    let _ = res.headers.add("Content-Type", content_type(path));
    write::local_response_head(out, &res, Framing::Length(len), (!keep).then_some("close"));
    write_all_vectored(&mut &*stream, &mut [IoSlice::new(out)]).await?;
    if head_only {
        return Ok(());
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into()); // the file shrank: close
        }
        let n = n.min(left as usize);
        write_all_vectored(&mut &*stream, &mut [IoSlice::new(&buf[..n])]).await?;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused_in_every_spelling() {
        let root = std::env::temp_dir();
        for t in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/%2E%2E/%2e%2e/x",
            "/..%2fetc",
            "/x/..\\..\\y",
        ] {
            assert_eq!(resolve(&root, t), Err(403), "{t}");
        }
        assert_eq!(resolve(&root, "/%zz"), Err(400));
        assert_eq!(resolve(&root, "/no-such-file-here-weir"), Err(404));
    }
}
