//! Zero-downtime upgrades (SIGUSR2, or `weir upgrade --pid PID`): the running weir starts
//! the binary on disk with its own arguments, hands it its listening sockets, waits
//! until it is ready, then stops accepting and drains as on SIGTERM. nginx's binary
//! upgrade and HAProxy's seamless reload (`-x`), in one step.
//!
//! How the sockets cross: `SCM_RIGHTS` over a Unix socket in a fresh directory only
//! this user can enter ([`handover`], [`wire`]), named to the new process in
//! `WEIR_UPGRADE_SOCKET` ([`inherit`]). nginx instead leaves its sockets open across
//! exec and names their numbers in `NGINX=fd;fd;`; taking a descriptor by number needs
//! `unsafe` (`OwnedFd::from_raw_fd`), which weir keeps to the plugin loader, while
//! `SCM_RIGHTS` hands the new process descriptors it owns from the start, close-on-exec,
//! and no other child started meanwhile (a plugin check) can inherit them. The same
//! connection carries the readiness: the new process writes `ready` once it listens;
//! its exit closes the connection, which the old one reads as the failure.
//!
//! What is matched and what is not: a socket is claimed by the `listen` (or `[admin]`)
//! entry with its configured address (so a port-0 entry finds its socket again) or its
//! bound one; a new config's new entries bind fresh; sockets no entry claims are closed.
//! Everything else starts fresh in the new process: health, pools, rate limits,
//! counters. Inherited sockets are also why an upgrade works after the privilege drop:
//! the new process runs as `user` and could not bind a port below 1024 again.
//!
//! A failure of any kind (the binary does not start, its config does not load, it is
//! not ready within `timeouts.upgrade`) leaves the old process serving, the reason on
//! its stderr and in the outcome file `weir upgrade` reads ([`outcome`]).

pub(crate) mod handover;
pub(crate) mod inherit;
mod on_signal;
pub mod outcome;
pub(crate) mod wire;

pub use handover::Plan;
pub(crate) use on_signal::upgrade_on_signal;

/// Names the handover socket for the new process.
const SOCKET_VAR: &str = "WEIR_UPGRADE_SOCKET";
