//! The key a config error is about (`routes[2].upstream`), found from where it points.
//!
//! toml gives each deserialization error the byte span of the value (or key) it is
//! about. Walking the parsed document down to the innermost entry holding that span
//! names the key. `serde_path_to_error` gave the same answer by wrapping every visitor
//! of every config type, which cost about 180 KiB of the binary; this walk runs once,
//! and only when a config is refused.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The dotted path, with `[i]` for array items, to the innermost key of `text` whose
/// key or value holds `span`; empty for the document itself (or for text that does not
/// parse, which cannot happen for an error met while deserializing it).
pub fn key_at(text: &str, span: Range<usize>) -> String {
    let root = DeTable::parse(text).ok();
    root.and_then(|root| in_table(root.get_ref(), &span))
        .unwrap_or_default()
}

/// The byte span of the value at `key` (`routes[2].path`, `routes[1]`) in `text`, so
/// an error found after parsing (a route's path, a group's hash key) can name its line
/// like the errors serde finds; `None` when the key is not written in the file (a
/// default, or a flag).
pub fn span_of(text: &str, key: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut value: Option<&toml::Spanned<DeValue>> = None;
    for part in key.split('.') {
        let (name, indices) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
        if let Some(v) = value {
            table = match v.get_ref() {
                DeValue::Table(t) => t,
                _ => return None,
            };
        }
        let mut v = table
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(_, v)| v)?;
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            v = match v.get_ref() {
                DeValue::Array(items) => items.get(i)?,
                _ => return None,
            };
        }
        value = Some(v);
    }
    value.map(|v| v.span())
}

/// The innermost entry first: a `[table]`'s span is its header line alone, so a
/// parent's span says nothing about where its children are.
fn in_table(table: &DeTable, span: &Range<usize>) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let name = key.get_ref();
        if holds(&key.span(), span) {
            return Some(name.to_string());
        }
        match in_value(value.get_ref(), span) {
            Some(rest) if rest.starts_with('[') => Some(format!("{name}{rest}")),
            Some(rest) => Some(format!("{name}.{rest}")),
            None => holds(&value.span(), span).then(|| name.to_string()),
        }
    })
}

fn in_value(value: &DeValue, span: &Range<usize>) -> Option<String> {
    match value {
        DeValue::Table(table) => in_table(table, span),
        DeValue::Array(items) => {
            items
                .iter()
                .enumerate()
                .find_map(|(i, item)| match in_value(item.get_ref(), span) {
                    Some(rest) if rest.starts_with('[') => Some(format!("[{i}]{rest}")),
                    Some(rest) => Some(format!("[{i}].{rest}")),
                    None => holds(&item.span(), span).then(|| format!("[{i}]")),
                })
        }
        _ => None,
    }
}

/// True when `outer` holds all of `inner`.
fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

#[cfg(test)]
mod tests {
    use super::{key_at, span_of};

    fn key_of(text: &str, needle: &str) -> String {
        let start = text.rfind(needle).unwrap();
        key_at(text, start..start + needle.len())
    }

    #[test]
    fn names_nested_tables_arrays_and_inline_tables() {
        let text = "threads = 2\n[upstream]\nservers = [\"a\", { addr = \"b\", weight = 0 }]\n\
                    [[routes]]\npath = \"/\"\n[[routes]]\nupstream = \"api\"\n";
        assert_eq!(key_of(text, "2"), "threads");
        assert_eq!(key_of(text, "0"), "upstream.servers[1].weight");
        assert_eq!(key_of(text, "\"api\""), "routes[1].upstream");
        assert_eq!(key_of(text, "upstream"), "routes[1].upstream");
        assert_eq!(key_at(text, 0..text.len()), "");
    }

    #[test]
    fn finds_the_span_of_a_key() {
        let text = "[upstream]\nservers = [\"a\"]\n[[routes]]\npath = \"/\"\n\
                    [[routes]]\nhosts = [\"x\", \"y\"]\nupstream = \"api\"\n";
        let at = |key| span_of(text, key).map(|s| &text[s]);
        assert_eq!(at("routes[1].upstream"), Some("\"api\""));
        assert_eq!(at("routes[1].hosts[1]"), Some("\"y\""));
        assert_eq!(at("upstream.servers[0]"), Some("\"a\""));
        assert_eq!(at("routes[0].path"), Some("\"/\""));
        assert_eq!(at("routes[2]"), None);
        assert_eq!(at("limits.max_headers"), None);
    }
}
