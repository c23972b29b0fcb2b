//! The status page: one self-contained HTML file (inline CSS and JS, no CDN, no web
//! fonts), compiled into the binary. It polls `/api/status` once a second and keeps the
//! last five minutes in the browser, so weir keeps no time series of its own: rates and
//! percentiles come from the differences between two polls of the same counters.

use super::reply::Reply;

const PAGE: &str = include_str!("status.html");

pub(crate) fn page() -> Reply {
    Reply::new(200, "text/html; charset=utf-8", PAGE)
}
