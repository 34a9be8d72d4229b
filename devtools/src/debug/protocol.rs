//! DAP messages as JSON values: reading a request's fields and building responses and events.
//!
//! Messages are handled as `serde_json::Value`, not through the `dap` crate's types: its
//! request enum refuses unknown commands at parse time and its types go one way only (requests
//! deserialize, responses serialize), while we must answer unknown and malformed requests with
//! an error response and the tests need both directions.

use serde_json::{json, Map, Value};

/// A request as it arrived: its sequence number, command and arguments (an object, maybe empty).
#[derive(Debug, Clone)]
pub struct Request {
    pub seq: i64,
    pub command: String,
    pub args: Value,
}

/// Why a message is not a request we can answer.
#[derive(Debug, PartialEq)]
pub enum BadMessage {
    /// Not JSON at all, or not an object: nothing to answer to.
    NotJson(String),
    /// An object that is not a well-formed request; `seq` and `command` when readable.
    NotRequest {
        seq: i64,
        command: String,
        why: String,
    },
}

/// Parses one message (a websocket text frame or a Content-Length body).
pub fn parse(text: &str) -> Result<Request, BadMessage> {
    let v: Value = serde_json::from_str(text).map_err(|e| BadMessage::NotJson(e.to_string()))?;
    let Value::Object(obj) = v else {
        return Err(BadMessage::NotJson("a DAP message is a JSON object".into()));
    };
    let seq = obj.get("seq").and_then(Value::as_i64).unwrap_or(0);
    let command = obj
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match obj.get("type").and_then(Value::as_str) {
        Some("request") => {}
        other => {
            return Err(BadMessage::NotRequest {
                seq,
                command,
                why: format!("expected a request, got type {other:?}"),
            })
        }
    }
    if command.is_empty() {
        return Err(BadMessage::NotRequest {
            seq,
            command,
            why: "a request needs a 'command' string".into(),
        });
    }
    let args = match obj.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => {
            return Err(BadMessage::NotRequest {
                seq,
                command,
                why: "'arguments' must be an object".into(),
            })
        }
    };
    Ok(Request { seq, command, args })
}

impl Request {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.args.get(key).and_then(Value::as_i64)
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.args.get(key).and_then(Value::as_bool)
    }
    /// An array argument's items (none when absent or not an array).
    pub fn array(&self, key: &str) -> Vec<Value> {
        self.args
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
    /// A required integer argument, or an error message naming it.
    pub fn need_i64(&self, key: &str) -> Result<i64, String> {
        self.i64(key).ok_or_else(|| {
            format!(
                "{}: argument '{key}' (an integer) is required",
                self.command
            )
        })
    }
    pub fn need_str(&self, key: &str) -> Result<&str, String> {
        self.str(key)
            .ok_or_else(|| format!("{}: argument '{key}' (a string) is required", self.command))
    }
}

/// Numbers messages going out (responses and events share one sequence).
#[derive(Default)]
pub struct Sequencer {
    next: i64,
}

impl Sequencer {
    pub fn response(&mut self, req_seq: i64, command: &str, body: Value) -> Value {
        self.next += 1;
        let mut m = json!({
            "seq": self.next, "type": "response", "request_seq": req_seq,
            "success": true, "command": command,
        });
        if !body.is_null() {
            m["body"] = body;
        }
        m
    }

    pub fn error(&mut self, req_seq: i64, command: &str, message: &str) -> Value {
        self.next += 1;
        json!({
            "seq": self.next, "type": "response", "request_seq": req_seq,
            "success": false, "command": command, "message": message,
            "body": { "error": { "id": 1, "format": message, "showUser": false } },
        })
    }

    pub fn event(&mut self, event: &str, body: Value) -> Value {
        self.next += 1;
        let mut m = json!({ "seq": self.next, "type": "event", "event": event });
        if !body.is_null() {
            m["body"] = body;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_messages_say_why() {
        let r = parse(r#"{"seq":3,"type":"request","command":"threads"}"#).unwrap();
        assert_eq!((r.seq, r.command.as_str()), (3, "threads"));
        assert!(r.args.is_object());
        assert!(matches!(parse("{nope"), Err(BadMessage::NotJson(_))));
        assert!(matches!(parse("[1]"), Err(BadMessage::NotJson(_))));
        match parse(r#"{"seq":4,"type":"request","command":"x","arguments":5}"#) {
            Err(BadMessage::NotRequest { seq, command, .. }) => {
                assert_eq!((seq, command.as_str()), (4, "x"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"seq":5,"type":"event","event":"x"}"#),
            Err(BadMessage::NotRequest { .. })
        ));
    }

    #[test]
    fn responses_and_events_share_one_sequence() {
        let mut s = Sequencer::default();
        let a = s.response(7, "threads", json!({"threads": []}));
        let b = s.event("stopped", json!({"reason": "pause"}));
        let c = s.error(8, "bogus", "unknown command");
        assert_eq!(a["seq"], 1);
        assert_eq!(a["request_seq"], 7);
        assert_eq!(b["seq"], 2);
        assert_eq!(c["success"], false);
        assert_eq!(c["message"], "unknown command");
    }
}
