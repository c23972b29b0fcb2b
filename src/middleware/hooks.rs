//! Which hooks a middleware implements, so the chain calls only those.
//!
//! Every hook has a no-op default, and a request used to pay a call through `dyn` for
//! each of them anyway: the access log, which has only `on_complete`, cost three calls
//! that did nothing. [`Chain::new`](super::Chain::new) reads [`Middleware::hooks`]
//! once and keeps, per hook, the middleware that have it. The default is every hook,
//! so a middleware that says nothing runs exactly as before.
//!
//! [`Middleware::hooks`]: super::Middleware::hooks

use std::ops::BitOr;

/// A set of the four hooks of [`Middleware`](super::Middleware).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hooks(u8);

impl Hooks {
    /// No hook at all.
    pub const NONE: Hooks = Hooks(0);
    pub const ON_REQUEST: Hooks = Hooks(1);
    pub const SELECT_UPSTREAM: Hooks = Hooks(2);
    pub const ON_RESPONSE: Hooks = Hooks(4);
    pub const ON_COMPLETE: Hooks = Hooks(8);
    /// Every hook: the default, right for any middleware.
    pub const ALL: Hooks = Hooks(15);

    /// Whether every hook of `other` is in this set.
    pub const fn has(self, other: Hooks) -> bool {
        self.0 & other.0 == other.0
    }

    /// This set with `other`'s hooks added when `on`.
    pub const fn with_if(self, other: Hooks, on: bool) -> Hooks {
        if on {
            Hooks(self.0 | other.0)
        } else {
            self
        }
    }
}

impl BitOr for Hooks {
    type Output = Hooks;

    fn bitor(self, other: Hooks) -> Hooks {
        Hooks(self.0 | other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_was_put_in() {
        let h = Hooks::ON_REQUEST | Hooks::ON_RESPONSE;
        assert!(h.has(Hooks::ON_REQUEST) && h.has(Hooks::ON_RESPONSE));
        assert!(!h.has(Hooks::SELECT_UPSTREAM) && !h.has(Hooks::ON_COMPLETE));
        assert!(!h.has(Hooks::ALL) && Hooks::ALL.has(h));
        assert_eq!(
            Hooks::NONE.with_if(Hooks::ON_COMPLETE, true),
            Hooks::ON_COMPLETE
        );
        assert_eq!(Hooks::NONE.with_if(Hooks::ON_COMPLETE, false), Hooks::NONE);
    }
}
