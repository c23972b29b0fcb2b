//! Which admin request does what, once [`guard`](super::guard) has let it through.
//! Requests that change something are logged with the caller's address.

use std::net::SocketAddr;

use super::reply::Reply;
use super::{api, guard, page, prom, Admin};
use crate::engine::Engine;
use crate::http::RequestHead;

/// Answers one admin request.
pub(crate) async fn answer(
    admin: &Admin,
    e: &Engine,
    req: &RequestHead,
    peer: SocketAddr,
) -> Reply {
    let path = req.path();
    let method = req.method.as_str();
    if let Err(refusal) = guard::check(e.config.admin.as_ref(), req) {
        let what = format!("{method} {}", path.chars().take(80).collect::<String>());
        admin.refusals.note(peer, &what, &refusal.reason());
        return refusal.reply();
    }
    let get = matches!(method, "GET" | "HEAD");
    if get && matches!(path, "/" | "/status") {
        return page::page();
    }
    let reads: Option<fn(&Engine) -> Reply> = match path {
        "/metrics" => Some(|e| Reply::new(200, prom::CONTENT_TYPE, prom::render(e))),
        "/api/status" => Some(|e| Reply::json(200, &api::status(e))),
        "/api/upstreams" => Some(|e| Reply::json(200, &api::upstreams(e))),
        "/api/routes" => Some(|e| Reply::json(200, &api::routes(e))),
        "/api/config" => Some(|e| api::config(&e.config)),
        _ => None,
    };
    if let Some(read) = reads {
        if !get {
            return Reply::error(405, "use GET").header("Allow", "GET, HEAD");
        }
        return read(e);
    }
    let action = if path == "/api/reload" {
        Some(Action::Reload)
    } else {
        server_action(path)
    };
    let Some(action) = action else {
        return Reply::error(404, "no such admin endpoint");
    };
    if method != "POST" {
        return Reply::error(405, "use POST").header("Allow", "POST");
    }
    match action {
        Action::Reload => {
            eprintln!("weir: admin: reload asked by {peer}");
            match admin.live.reload(&admin.runtime).await {
                Ok(what) => {
                    Reply::json(200, &serde_json::json!({ "result": "ok", "detail": what }))
                }
                Err(why) => {
                    Reply::json(422, &serde_json::json!({ "result": "error", "error": why }))
                }
            }
        }
        Action::Server {
            group,
            server,
            drain,
        } => api::drain(e, group, server, drain, peer),
    }
}

enum Action<'p> {
    Reload,
    Server {
        group: &'p str,
        server: &'p str,
        drain: bool,
    },
}

/// `/api/upstreams/{group}/servers/{addr}/drain` or `.../enable`.
fn server_action(path: &str) -> Option<Action<'_>> {
    let rest = path.strip_prefix("/api/upstreams/")?;
    let (group, rest) = rest.split_once("/servers/")?;
    let (server, verb) = rest.rsplit_once('/')?;
    let drain = match verb {
        "drain" => true,
        "enable" => false,
        _ => return None,
    };
    Some(Action::Server {
        group,
        server,
        drain,
    })
}
