//! Turning `[[middleware]]` entries into a chain.
//!
//! The default chain, when the config lists none, is `log` (combined, stdout) then
//! `balancer`. Middleware added from code goes after the configured entries. If no
//! entry is a balancer, one is appended at the end, so every chain can route.
//!
//! A `plugin = "path"` entry loads its library (once per file, however many entries
//! name it) and makes an instance from the entry's `config`, handed over as JSON. Any
//! failure stops start-up with `middleware[i].plugin` (or `.config`), the file, and why.
//! A library this process has not loaded yet is first loaded in a child process when
//! that check is on (`plugin::vet`), so a crash or hang there refuses the config.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::balance::Balancer;
use super::headers::{self, HeaderRewrite};
use super::log::{self, AccessLog};
use super::{Chain, Middleware};
use crate::balance::{
    Algorithm, ConsistentHash, LeastConn, PowerOfTwo, RoundRobin, WeightedRandom,
};
use crate::config::{
    BalancerKind, Config, ConfigError, GroupConfig, HashKey, MiddlewareSpec, DEFAULT_GROUP,
};
use crate::plugin::{load, vet, FfiMiddleware};

/// The algorithm one group asks for, with its hash key.
fn algorithm(group: &GroupConfig) -> (Box<dyn Algorithm>, Option<HashKey>) {
    let weights = group.slot_weights();
    let algorithm: Box<dyn Algorithm> = match group.balancer {
        BalancerKind::RoundRobin => Box::new(RoundRobin::new()),
        BalancerKind::LeastConn => Box::new(LeastConn::new()),
        BalancerKind::P2c => Box::new(PowerOfTwo::new()),
        BalancerKind::Random => Box::new(WeightedRandom::new()),
        BalancerKind::Hash => Box::new(ConsistentHash::new(&weights)),
    };
    (algorithm, group.hash_key.clone())
}

/// The balancer: one algorithm per upstream group.
fn balancer(config: &Config) -> Balancer {
    Balancer::per_group(config.upstream_groups().iter().map(algorithm).collect())
}

/// Each route's name and its upstream group's name, by route index: what plugins read
/// through the ABI 1.1 `route` and `upstream_group` services.
fn route_names(config: &Config) -> Arc<[(String, String)]> {
    let groups = config.upstream_groups();
    let implicit = config.routes.is_empty();
    let routes = config.route_list();
    let names = routes.iter().enumerate().map(|(i, r)| {
        let route = match implicit {
            true => DEFAULT_GROUP.to_string(),
            false => r.display_name(i),
        };
        let group = r.upstream.clone().unwrap_or_else(|| groups[0].name.clone());
        (route, group)
    });
    names.collect()
}

/// The built-in names accepted by `builtin = "..."`.
pub const BUILTINS: [&str; 3] = ["log", "headers", "balancer"];

fn settings<T: DeserializeOwned>(
    config: &Config,
    i: usize,
    spec: &MiddlewareSpec,
) -> Result<T, ConfigError> {
    let value = toml::Value::Table(spec.config.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            format!("middleware[{i}].config")
        } else {
            format!("middleware[{i}].config.{path}")
        };
        ConfigError::new(
            &config.source,
            key,
            e.into_inner().message().trim().to_string(),
        )
    })
}

fn builtin(
    config: &Config,
    i: usize,
    spec: &MiddlewareSpec,
    kind: &str,
) -> Result<Arc<dyn Middleware>, ConfigError> {
    let name = spec.name.clone().unwrap_or_else(|| kind.to_string());
    let err = |key: &str, why: String| {
        ConfigError::new(&config.source, format!("middleware[{i}].{key}"), why)
    };
    Ok(match kind {
        "log" => {
            let c: log::Config = settings(config, i, spec)?;
            let log = AccessLog::new(name, &c)
                .map_err(|e| err("config.path", format!("cannot open {:?}: {e}", c.path)))?;
            Arc::new(log)
        }
        "headers" => {
            let c: headers::Config = settings(config, i, spec)?;
            Arc::new(HeaderRewrite::new(name, c).map_err(|e| err("config", e.to_string()))?)
        }
        "balancer" => {
            if !spec.config.is_empty() {
                return Err(err(
                    "config",
                    "the balancer takes its settings from [upstream]".into(),
                ));
            }
            Arc::new(balancer(config))
        }
        other => {
            return Err(err(
                "builtin",
                format!(
                    "unknown built-in {other:?} (expected one of: {})",
                    BUILTINS.join(", ")
                ),
            ))
        }
    })
}

/// Loads the plugin library for entry `i` and makes an instance of it; `slot` numbers
/// the instance's per-request state.
fn plugin(
    config: &Config,
    servers: usize,
    i: usize,
    spec: &MiddlewareSpec,
    path: &Path,
    slot: usize,
) -> Result<Arc<dyn Middleware>, ConfigError> {
    let err =
        |why: String| ConfigError::new(&config.source, format!("middleware[{i}].plugin"), why);
    let lib = crate::plugin::load(path).map_err(|e| err(e.to_string()))?;
    let name = spec.name.clone().unwrap_or_else(|| lib.name.clone());
    let json = serde_json::to_string(&spec.config)
        .map_err(|e| err(format!("{}: config as JSON: {e}", path.display())))?;
    let m = FfiMiddleware::new(lib, name, &json, slot, servers).map_err(|why| {
        let why = format!("{}: instance refused its config: {why}", path.display());
        ConfigError::new(&config.source, format!("middleware[{i}].config"), why)
    })?;
    Ok(Arc::new(m.with_routes(route_names(config))))
}

/// A library the config names that this process has not loaded yet.
struct NewLibrary<'c> {
    /// The first entry naming it, for the error's key.
    entry: usize,
    /// As written in that entry.
    path: &'c Path,
    canonical: PathBuf,
    /// The `config` of every entry naming it, as JSON.
    configs: Vec<String>,
}

/// Runs each plugin library this process has not loaded yet through the child-process
/// check, when it is on (see [`vet`]), with the configs of every entry naming it.
fn vet_new_plugins(config: &Config, upstreams: usize) -> Result<(), ConfigError> {
    let Some(exe) = vet::checker() else {
        return Ok(());
    };
    let mut libs: Vec<NewLibrary<'_>> = Vec::new();
    for (entry, spec) in config.middleware.iter().enumerate() {
        let (None, Some(path)) = (&spec.builtin, &spec.plugin) else {
            continue;
        };
        let Some(canonical) = load::not_yet_loaded(path) else {
            continue;
        };
        // A config that is not JSON is reported when the instance is made.
        let json = serde_json::to_string(&spec.config).into_iter();
        match libs.iter_mut().find(|l| l.canonical == canonical) {
            Some(lib) => lib.configs.extend(json),
            None => libs.push(NewLibrary {
                entry,
                path,
                canonical,
                configs: json.collect(),
            }),
        }
    }
    for lib in libs {
        let timeout = config.timeouts.plugin_check;
        vet::vet(&exe, lib.path, &lib.configs, upstreams, timeout).map_err(|why| {
            ConfigError::new(
                &config.source,
                format!("middleware[{}].plugin", lib.entry),
                format!("{}: {why}", lib.path.display()),
            )
        })?;
    }
    Ok(())
}

/// Logs each plugin library the config names that this process loaded earlier from a
/// file since replaced: the library in memory keeps running (libraries are never
/// unloaded), and without this line a reload would keep the old build silently.
fn say_replaced_plugins(config: &Config) {
    let mut said = Vec::new();
    for (i, spec) in config.middleware.iter().enumerate() {
        let (None, Some(path)) = (&spec.builtin, &spec.plugin) else {
            continue;
        };
        let Some(canonical) = load::replaced_since_loaded(path) else {
            continue;
        };
        if said.contains(&canonical) {
            continue;
        }
        eprintln!(
            "weir: middleware[{i}].plugin: {} has changed on disk since weir loaded it; \
             still running the library loaded then (a loaded library is never unloaded): \
             restart weir to run the new one, or install it under a new file name and \
             point the config at that",
            path.display()
        );
        said.push(canonical);
    }
}

/// Builds the chain for `config`, with `extra` middleware from code after the
/// configured entries and a balancer appended if none is present.
pub fn chain(config: &Config, extra: &[Arc<dyn Middleware>]) -> Result<Chain, ConfigError> {
    Ok(chains(config, extra)?.global)
}

/// The global chain, and one chain per route (in [`Config::route_list`] order).
pub(crate) struct Chains {
    pub global: Chain,
    pub routes: Vec<Chain>,
}

/// Builds every `[[middleware]]` entry once: `global = false` entries become the named
/// instances routes pick from, the rest the global chain.
pub(crate) fn chains(
    config: &Config,
    extra: &[Arc<dyn Middleware>],
) -> Result<Chains, ConfigError> {
    let mut list: Vec<Arc<dyn Middleware>> = Vec::new();
    let mut named: Vec<(&str, Arc<dyn Middleware>)> = Vec::new();
    let mut has_balancer = false;
    // Each plugin instance gets its own per-request state slot.
    let mut plugins = 0;
    // What a plugin sees as the server count before routing: the first group's (the
    // only one, unless routes are configured); `choose_upstream` sees the request's.
    let servers = config.upstream_groups()[0].servers.len();
    vet_new_plugins(config, servers)?;
    say_replaced_plugins(config);
    if config.middleware.iter().all(|m| !m.is_global()) {
        list.push(Arc::new(
            AccessLog::new("log".into(), &log::Config::default())
                .map_err(|e| ConfigError::new(&config.source, "", e.to_string()))?,
        ));
    }
    for (i, spec) in config.middleware.iter().enumerate() {
        let m = match (&spec.builtin, &spec.plugin) {
            (Some(kind), _) => {
                has_balancer |= kind == "balancer";
                builtin(config, i, spec, kind)?
            }
            (None, Some(path)) => {
                plugins += 1;
                plugin(config, servers, i, spec, path, plugins - 1)?
            }
            (None, None) => {
                return Err(ConfigError::new(
                    &config.source,
                    format!("middleware[{i}]"),
                    "needs `builtin` or `plugin`",
                ))
            }
        };
        match spec.is_global() {
            true => list.push(m),
            false => named.push((spec.name.as_deref().unwrap_or_default(), m)),
        }
    }
    list.extend(extra.iter().cloned());
    if !has_balancer {
        list.push(Arc::new(balancer(config)));
    }
    let routes = config
        .route_list()
        .iter()
        .map(|r| {
            let picked = r.middleware.iter().filter_map(|name| {
                named
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, m)| m.clone())
            });
            Chain::new(picked.collect())
        })
        .collect();
    Ok(Chains {
        global: Chain::new(list),
        routes,
    })
}
