//! An admin reply: a status, a content type and a whole body.

use crate::http::ResponseHead;

pub(crate) struct Reply {
    pub head: ResponseHead,
    pub body: Vec<u8>,
    /// Close the connection after this reply (a refused client keeps no connection).
    pub close: bool,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut head = ResponseHead {
            status,
            ..Default::default()
        };
        let _ = head.headers.add("Content-Type", content_type);
        // Numbers are live: no cache may keep them.
        let _ = head.headers.add("Cache-Control", "no-store");
        Reply {
            head,
            body: body.into(),
            close: false,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Reply::new(status, "application/json", body)
    }

    /// `{"error": why}` with `status`.
    pub fn error(status: u16, why: &str) -> Self {
        Reply::json(status, &serde_json::json!({ "error": why }))
    }

    /// This reply, with the connection closed after it.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        let _ = self.head.headers.add(name, value);
        self
    }
}
