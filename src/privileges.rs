//! Privileges: bind as root, serve as `user`; and no plugins as root.
//!
//! Ports below 1024 need root (or `CAP_NET_BIND_SERVICE`). Started as root with
//! `user = "weir"`, weir binds its listeners (or takes systemd's), then switches its
//! groups, gid and uid (real, effective and saved, so there is no way back) before it
//! reads TLS keys, loads plugins or accepts a connection. Keys and plugins are read as
//! the user on purpose: a reload (SIGHUP) runs as the user too, so a start that works
//! proves the reloads will. A reload that adds a listener on a port below 1024 cannot
//! bind it then (it is logged and skipped); restart weir for that, or grant the
//! capability (the systemd unit in `contrib/` does).
//!
//! The switch happens while weir has one thread: Linux changes ids per thread (glibc
//! broadcasts to every thread, the raw system calls weir makes through rustix do not),
//! so a process with other threads is refused rather than left half-switched. Names
//! are looked up in /etc/passwd and /etc/group (no NSS: LDAP users need their numeric
//! id). Started as someone else, `user` is ignored with a warning, as nginx does.
//!
//! Plugins are native code in weir's address space; a bug in one, run as root, owns
//! the machine. So weir refuses to load plugins while its effective uid is 0, unless
//! `allow_root = true` says the operator means it (checked at start and on reload).

use crate::config::{Config, ConfigError, Privileges};

/// Whom to become: numeric ids, looked up once.
#[derive(Debug, PartialEq)]
struct Ids {
    uid: u32,
    gid: u32,
    /// Supplementary groups: `gid` and those /etc/group lists the user in.
    groups: Vec<u32>,
}

/// Drops to `privileges.user` (and `group`) if set and weir runs as root. `source` is
/// the config file, for messages.
pub fn drop_to_user(privileges: &Privileges, source: &str) -> Result<(), ConfigError> {
    let Some(user) = &privileges.user else {
        if privileges.group.is_some() {
            let why = "needs `user` beside it: weir switches groups only when switching users";
            return Err(ConfigError::new(source, "group", why));
        }
        return Ok(());
    };
    let ids = lookup(user, privileges.group.as_deref())
        .map_err(|(key, why)| ConfigError::new(source, key, why))?;
    if !os::is_root() {
        eprintln!(
            "weir: warning: user = {user:?} needs weir started as root to switch to it; \
             serving as the current user"
        );
        return Ok(());
    }
    os::switch(&ids).map_err(|why| {
        ConfigError::new(source, "user", format!("cannot switch to {user:?}: {why}"))
    })
}

/// Checks that `user` and `group` name a user and a group, for `weir check`.
pub fn check_names(privileges: &Privileges, source: &str) -> Result<(), ConfigError> {
    match &privileges.user {
        Some(user) => lookup(user, privileges.group.as_deref())
            .map(|_| ())
            .map_err(|(key, why)| ConfigError::new(source, key, why)),
        None => Ok(()),
    }
}

/// Refuses `config` if it loads plugins while weir runs as root without `allow_root`.
pub fn check_plugins(config: &Config) -> Result<(), ConfigError> {
    let plugin = config.middleware.iter().position(|m| m.plugin.is_some());
    match plugin {
        Some(i) if os::is_root() && !config.privileges.allow_root => Err(ConfigError::new(
            &config.source,
            format!("middleware[{i}].plugin"),
            "plugins would run as root: set `user = \"weir\"` (any unprivileged user) so \
             weir drops root after binding, or `allow_root = true` to accept the risk",
        )),
        _ => Ok(()),
    }
}

/// The ids of `user` (a name or a number) and `group` (the same; the user's primary
/// group when absent), or the key and reason they cannot be found.
fn lookup(user: &str, group: Option<&str>) -> Result<Ids, (&'static str, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let etc_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == user || f[2] == user));
    let (name, uid, primary) = match entry {
        Some(f) => (f[0], f[2].parse().ok(), f[3].parse().ok()),
        None => (user, user.parse().ok(), None),
    };
    let Some(uid) = uid else {
        return Err((
            "user",
            format!("no user {user:?} in /etc/passwd (a numeric uid works too)"),
        ));
    };
    let groups: Vec<Vec<&str>> = etc_group.lines().map(|l| l.split(':').collect()).collect();
    let gid = match group {
        Some(g) => groups
            .iter()
            .find(|f| f.len() > 2 && f[0] == g)
            .and_then(|f| f[2].parse().ok())
            .or_else(|| g.parse().ok()),
        None => primary.or(Some(uid)),
    };
    let Some(gid) = gid else {
        let g = group.unwrap_or_default();
        return Err((
            "group",
            format!("no group {g:?} in /etc/group (a numeric gid works too)"),
        ));
    };
    let mut list = vec![gid];
    for f in groups.iter().filter(|f| f.len() > 3) {
        let member = f[3].split(',').any(|m| m == name);
        if let (true, Ok(id)) = (member, f[2].parse()) {
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }
    Ok(Ids {
        uid,
        gid,
        groups: list,
    })
}

#[cfg(target_os = "linux")]
mod os {
    use rustix::process::{geteuid, getuid, Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};

    use super::Ids;

    pub fn is_root() -> bool {
        geteuid().is_root()
    }

    /// Groups first (only root may change them), then gid, then uid; then checks that
    /// root cannot be had back.
    pub fn switch(ids: &Ids) -> Result<(), String> {
        let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
        if threads > 1 {
            return Err(format!(
                "weir already runs {threads} threads; ids change per thread, so the switch \
                 must happen before any other starts (an embedding program: bind first)"
            ));
        }
        let groups: Vec<Gid> = ids.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        let (uid, gid) = (Uid::from_raw(ids.uid), Gid::from_raw(ids.gid));
        set_thread_groups(&groups).map_err(|e| format!("setgroups: {e}"))?;
        set_thread_res_gid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
        set_thread_res_uid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
        let back = set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT).is_ok();
        if (back && ids.uid != 0) || getuid() != uid || geteuid() != uid {
            return Err("the switch did not take: root is still there".into());
        }
        Ok(())
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod os {
    use super::Ids;

    pub fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    pub fn switch(_: &Ids) -> Result<(), String> {
        Err("switching users is implemented on Linux only".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_root_by_name_and_number() {
        let by_name = lookup("root", None).unwrap();
        assert_eq!((by_name.uid, by_name.gid), (0, 0));
        assert_eq!(
            lookup("0", Some("0")).unwrap(),
            Ids {
                uid: 0,
                gid: 0,
                groups: vec![0]
            }
        );
    }

    #[test]
    fn unknown_user_and_group_name_their_key() {
        assert_eq!(lookup("no-such-user-weir", None).unwrap_err().0, "user");
        assert_eq!(
            lookup("root", Some("no-such-group-weir")).unwrap_err().0,
            "group"
        );
    }
}
