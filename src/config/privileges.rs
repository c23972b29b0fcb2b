//! `user`, `group` and `allow_root`: whom weir serves as once its listeners are bound.

use serde::Serialize;

/// The top-level `user`, `group` and `allow_root` keys (see [`crate::privileges`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Privileges {
    /// Started as root, weir binds its listeners and then switches to this user (a
    /// name from /etc/passwd or a numeric uid) before it reads keys, loads plugins or
    /// serves a request, as nginx's `user` and HAProxy's `user` do.
    pub user: Option<String>,
    /// The group to switch to; the user's primary group when absent.
    pub group: Option<String>,
    /// Lets plugins run in a process whose effective uid is 0. Without it weir refuses
    /// such a config: a plugin is native code, and a bug in it would own the machine.
    pub allow_root: bool,
}
