//! A plugin's config, from the JSON text the host hands over to the typed `Plugin::Config`.
//!
//! The user wrote TOML, not JSON: weir turned their `config = { ... }` table into the
//! JSON this reads. So an error names the key inside that table (`limit: invalid type`)
//! and never a JSON position (`line 1 column 2`), which would point into text the user
//! has never seen. The host prefixes the TOML entry (`middleware[2].config`).

use serde::de::DeserializeOwned;

/// Parses `json` into `C`, or says which key was wrong and why.
pub(crate) fn parse<C: DeserializeOwned>(json: &[u8]) -> Result<C, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let config = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let key = e.path().to_string();
        let why = without_position(e.into_inner());
        if key == "." {
            format!("bad config: {why}")
        } else {
            format!("bad config: {key}: {why}")
        }
    })?;
    de.end()
        .map_err(|e| format!("bad config: {}", without_position(e)))?;
    Ok(config)
}

/// serde_json's message without its ` at line L column C`.
fn without_position(e: serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&position).unwrap_or(&full).to_string()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialised")]
    struct Limits {
        rate: u32,
        burst: Option<u32>,
    }

    #[test]
    fn errors_name_the_key_and_no_json_position() {
        let e = parse::<Limits>(br#"{"burst": 2}"#).unwrap_err();
        assert_eq!(e, "bad config: missing field `rate`");
        let e = parse::<Limits>(br#"{"rate": "x"}"#).unwrap_err();
        assert_eq!(
            e,
            "bad config: rate: invalid type: string \"x\", expected u32"
        );
        let e = parse::<Limits>(br#"{"rate": 1, "brust": 2}"#).unwrap_err();
        assert_eq!(
            e,
            "bad config: brust: unknown field `brust`, expected `rate` or `burst`"
        );
        assert!(parse::<Limits>(br#"{"rate": 1}"#).is_ok());
    }
}
