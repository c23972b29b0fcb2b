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
use crate::config::{BalancerKind, Config, ConfigError, MiddlewareSpec};
use crate::plugin::{load, vet, FfiMiddleware};
use crate::upstream::Upstreams;

/// The balancer `[upstream]` asks for.
fn balancer(config: &Config) -> Balancer {
    let weights: Vec<u32> = config.upstreams.iter().map(|u| u.weight).collect();
    let algorithm: Box<dyn Algorithm> = match config.balancer {
        BalancerKind::RoundRobin => Box::new(RoundRobin::new()),
        BalancerKind::LeastConn => Box::new(LeastConn::new()),
        BalancerKind::P2c => Box::new(PowerOfTwo::new()),
        BalancerKind::Random => Box::new(WeightedRandom::new()),
        BalancerKind::Hash => Box::new(ConsistentHash::new(&weights)),
    };
    Balancer::new(algorithm, config.hash_key.clone())
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
    upstreams: &Upstreams,
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
    let m = FfiMiddleware::new(lib, name, &json, slot, upstreams.len()).map_err(|why| {
        let why = format!("{}: instance refused its config: {why}", path.display());
        ConfigError::new(&config.source, format!("middleware[{i}].config"), why)
    })?;
    Ok(Arc::new(m))
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

/// Builds the chain for `config`, with `extra` middleware from code after the
/// configured entries and a balancer appended if none is present.
pub fn chain(
    config: &Config,
    upstreams: &Upstreams,
    extra: &[Arc<dyn Middleware>],
) -> Result<Chain, ConfigError> {
    let mut list: Vec<Arc<dyn Middleware>> = Vec::new();
    let mut has_balancer = false;
    let mut plugins = 0; // each plugin instance gets its own per-request state slot
    vet_new_plugins(config, upstreams.len())?;
    if config.middleware.is_empty() {
        list.push(Arc::new(
            AccessLog::new("log".into(), &log::Config::default())
                .map_err(|e| ConfigError::new(&config.source, "", e.to_string()))?,
        ));
    }
    for (i, spec) in config.middleware.iter().enumerate() {
        match (&spec.builtin, &spec.plugin) {
            (Some(kind), _) => {
                has_balancer |= kind == "balancer";
                list.push(builtin(config, i, spec, kind)?);
            }
            (None, Some(path)) => {
                list.push(plugin(config, upstreams, i, spec, path, plugins)?);
                plugins += 1;
            }
            (None, None) => {
                return Err(ConfigError::new(
                    &config.source,
                    format!("middleware[{i}]"),
                    "needs `builtin` or `plugin`",
                ))
            }
        }
    }
    list.extend(extra.iter().cloned());
    if !has_balancer {
        list.push(Arc::new(balancer(config)));
    }
    Ok(Chain::new(list))
}
