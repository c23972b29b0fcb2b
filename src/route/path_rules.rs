//! The two choices a deployment makes about ambiguous path spellings (the config's
//! `limits.escaped_slashes` and `limits.ambiguous_segments`), read by
//! [`normalize_with`](super::normalize_with).

/// What an encoded slash (`%2F`) or backslash (`%5C`) in a path is: the config's
/// `limits.escaped_slashes`. Envoy's `path_with_escaped_slashes_action` is the same
/// choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// `%2F` is a `/`: decoded, then slashes are merged and dot segments removed, so
    /// `/x/..%2Fadmin` is `/admin`, as nginx, Apache and most origins read it. `%5C`
    /// decodes to a backslash and is refused like a raw one. The default.
    #[default]
    Decode,
    /// `%2F` or `%5C` anywhere in the path is a 400.
    Reject,
    /// `%2F` and `%5C` are data inside a segment, forwarded encoded: for origins that
    /// read them so (GitLab's `/projects/group%2Fname`). An origin that decodes them
    /// sees another path than the one routed.
    Keep,
}

impl EscapedSlashes {
    /// `"decode"`, `"reject"` or `"keep"`, as the config spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "decode" => Some(Self::Decode),
            "reject" => Some(Self::Reject),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Reject => "reject",
            Self::Keep => "keep",
        }
    }
}

/// Whether path segments that some origins read as another are refused: the config's
/// `limits.ambiguous_segments`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AmbiguousSegments {
    /// A `;` (raw or `%3B`), an encoded control character or an escaped escape
    /// (`%252F`) anywhere in the path, or a segment ending in `.` or `%20` (other than
    /// the dot segments `.` and `..`), is a 400. The default: Spring Security's
    /// `StrictHttpFirewall` refuses `;` the same way.
    #[default]
    Reject,
    /// Passed on as data: for origins that need `;jsessionid=…` or matrix parameters.
    Keep,
}

impl AmbiguousSegments {
    /// `"reject"` or `"keep"`, as the config spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reject" => Some(Self::Reject),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Keep => "keep",
        }
    }
}

/// The deployment's choices for [`normalize_with`](super::normalize_with). `Default` is the safe pair (decode
/// encoded slashes, refuse ambiguous segments); [`PathRules::KEEP`] is the lenient one
/// that [`normalize`](super::normalize) applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathRules {
    pub escaped_slashes: EscapedSlashes,
    pub ambiguous_segments: AmbiguousSegments,
}

impl PathRules {
    /// Encoded slashes kept as data and ambiguous segments passed: the only rules under
    /// which every spelling has a normal form, used to check paths written in a config.
    pub const KEEP: PathRules = PathRules {
        escaped_slashes: EscapedSlashes::Keep,
        ambiguous_segments: AmbiguousSegments::Keep,
    };
}
