//! The ordered middleware list and the four walks over it.
//!
//! Built once; besides the list it keeps, per hook, the middleware that implement it
//! ([`Middleware::hooks`]), each with its place in the list, so a request calls no
//! hook left at its no-op default. Places, not positions in the per-hook lists, are
//! what a local reply's responder and `on_response`'s `upto` count in.

use std::sync::Arc;

use super::{Ctx, Flow, Hooks, Middleware, Response, Summary};
use crate::http::{RequestHead, ResponseHead};
use crate::upstream::Upstreams;

/// The ordered middleware list, shared by every connection.
#[derive(Clone)]
pub struct Chain {
    lists: Arc<Lists>,
    /// Every hook some middleware has: kept beside the pointer, so a walk with nothing
    /// to call costs a test and a branch where it is inlined, not a call.
    hooks: Hooks,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new(Vec::new())
    }
}

/// A middleware and its place in the chain.
type Placed = (usize, Arc<dyn Middleware>);

#[derive(Default)]
struct Lists {
    all: Box<[Arc<dyn Middleware>]>,
    on_request: Box<[Placed]>,
    select_upstream: Box<[Placed]>,
    on_response: Box<[Placed]>,
    on_complete: Box<[Placed]>,
}

impl Chain {
    pub fn new(list: Vec<Arc<dyn Middleware>>) -> Self {
        let hooks: Vec<Hooks> = list.iter().map(|m| m.hooks()).collect();
        let having = |hook: Hooks| -> Box<[Placed]> {
            let placed = list.iter().cloned().enumerate();
            placed.filter(|(i, _)| hooks[*i].has(hook)).collect()
        };
        let any = hooks.iter().fold(Hooks::NONE, |any, &h| any | h);
        let lists = Lists {
            on_request: having(Hooks::ON_REQUEST),
            select_upstream: having(Hooks::SELECT_UPSTREAM),
            on_response: having(Hooks::ON_RESPONSE),
            on_complete: having(Hooks::ON_COMPLETE),
            all: list.into(),
        };
        Chain {
            lists: Arc::new(lists),
            hooks: any,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Middleware>> {
        self.lists.all.iter()
    }

    pub fn len(&self) -> usize {
        self.lists.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.all.is_empty()
    }

    /// Runs `on_request` front to back. `Err((i, reply))` when middleware `i` (its
    /// place in the chain) answered; stops early when a middleware calls [`Ctx::fail`].
    #[inline]
    pub fn on_request(&self, cx: &mut Ctx, req: &mut RequestHead) -> Result<(), (usize, Response)> {
        match self.hooks.has(Hooks::ON_REQUEST) {
            true => self.walk_on_request(cx, req),
            false => Ok(()),
        }
    }

    fn walk_on_request(
        &self,
        cx: &mut Ctx,
        req: &mut RequestHead,
    ) -> Result<(), (usize, Response)> {
        for (i, m) in self.lists.on_request.iter() {
            let flow = m.on_request(cx, req);
            if cx.failed() {
                break; // the caller sees `cx.failed()` and answers 500
            }
            if let Flow::Respond(r) = flow {
                return Err((*i, r));
            }
        }
        Ok(())
    }

    /// The first `Some` from `select_upstream`, front to back.
    #[inline]
    pub fn select_upstream(
        &self,
        cx: &mut Ctx,
        req: &RequestHead,
        upstreams: &Upstreams,
    ) -> Option<usize> {
        match self.hooks.has(Hooks::SELECT_UPSTREAM) {
            true => self.walk_select_upstream(cx, req, upstreams),
            false => None,
        }
    }

    fn walk_select_upstream(
        &self,
        cx: &mut Ctx,
        req: &RequestHead,
        upstreams: &Upstreams,
    ) -> Option<usize> {
        for (_, m) in self.lists.select_upstream.iter() {
            let pick = m.select_upstream(cx, req, upstreams);
            if cx.failed() {
                return None;
            }
            if let Some(i) = pick {
                return Some(i).filter(|&i| i < upstreams.len());
            }
        }
        None
    }

    /// Runs `on_response` back to front over the first `upto` middleware (by place).
    #[inline]
    pub fn on_response(&self, cx: &mut Ctx, res: &mut ResponseHead, upto: usize) {
        if self.hooks.has(Hooks::ON_RESPONSE) {
            self.walk_on_response(cx, res, upto);
        }
    }

    fn walk_on_response(&self, cx: &mut Ctx, res: &mut ResponseHead, upto: usize) {
        let having = &self.lists.on_response;
        let before = having.partition_point(|(i, _)| *i < upto);
        for (_, m) in having[..before].iter().rev() {
            m.on_response(cx, res);
            if cx.failed() {
                break;
            }
        }
    }

    /// Whether some middleware has `hook`: when none has `on_complete`, the caller
    /// need not build a [`Summary`].
    #[inline]
    pub fn has(&self, hook: Hooks) -> bool {
        self.hooks.has(hook)
    }

    #[inline]
    pub fn on_complete(&self, cx: &Ctx, summary: &Summary<'_>) {
        if self.hooks.has(Hooks::ON_COMPLETE) {
            self.walk_on_complete(cx, summary);
        }
    }

    fn walk_on_complete(&self, cx: &Ctx, summary: &Summary<'_>) {
        for (_, m) in self.lists.on_complete.iter() {
            m.on_complete(cx, summary);
        }
    }
}

#[cfg(test)]
mod tests;
