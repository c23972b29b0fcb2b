//! Running under systemd: its listening sockets (socket activation) and its readiness
//! protocol (`sd_notify`), both spoken directly, without libsystemd.
//!
//! - [`activation`]: when systemd started weir with `LISTEN_FDS`/`LISTEN_PID`, the
//!   sockets it passed (descriptors 3, 4, ...) replace the ones weir would bind. Each is
//!   matched to a `listen` entry by the address it is bound to; an entry without one is
//!   bound as usual. An inherited socket that matches no entry is closed with a warning
//!   (as nginx does with an inherited socket no longer listed): refusing to start would
//!   turn a unit/config mismatch into an outage, closing it keeps weir serving what
//!   its config asks for.
//! - [`notify`]: when `NOTIFY_SOCKET` is set (a `Type=notify` or `Type=notify-reload`
//!   unit), weir tells systemd `READY=1` once it listens, `RELOADING=1` and again
//!   `READY=1` around a reload, and `STOPPING=1` when it begins to drain.
//!
//! Both sets of variables are removed from the environment once read, so that the
//! processes weir starts (the plugin check, a health-check helper) do not believe
//! they were started by systemd.

pub mod activation;
pub mod notify;
