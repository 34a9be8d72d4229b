//! rustyline's helper for the REPL: completion (asked of the Lua thread, which walks tables
//! without calling anything), syntax highlighting and history hints (both only on a terminal).

use std::borrow::Cow;
use std::sync::mpsc;
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::Validator;
use rustyline::{Context as RlContext, Helper};

use super::complete::{context, Context};
use super::lex::{tokens, Kind, KEYWORDS};
use super::Post;

/// How long the prompt waits for the Lua thread to answer a completion.
const COMPLETION_WAIT: Duration = Duration::from_secs(2);

pub struct ReplHelper {
    pub post: Post,
    pub color: bool,
    pub hinter: HistoryHinter,
}

impl ReplHelper {
    /// The names that complete `ctx`, sorted, from the Lua thread.
    fn candidates(&self, ctx: Context) -> Vec<String> {
        let (tx, rx) = mpsc::channel();
        let globals = matches!(&ctx, Context::Path { chain, .. } if chain.is_empty());
        let partial = match &ctx {
            Context::Path { partial, .. } | Context::Module { partial } => partial.clone(),
            Context::Nothing => return vec![],
        };
        (self.post)(Box::new(move |lua| {
            let _ = tx.send(super::session::complete(lua, &ctx));
        }));
        let mut names = rx.recv_timeout(COMPLETION_WAIT).unwrap_or_default();
        if globals {
            names.extend(
                KEYWORDS
                    .iter()
                    .filter(|k| k.starts_with(partial.as_str()))
                    .map(|k| k.to_string()),
            );
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &RlContext<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Some(before) = line.get(..pos) else {
            return Ok((pos, vec![]));
        };
        let (start, ctx) = context(before);
        let names = self.candidates(ctx);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &RlContext<'_>) -> Option<String> {
        if !self.color {
            return None;
        }
        self.hinter.hint(line, pos, ctx)
    }
}

/// `src` with ANSI colours: keywords, strings, numbers, comments.
pub fn highlight(src: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut at = 0;
    for t in tokens(src) {
        let color = match t.kind {
            Kind::Keyword => match &src[t.start..t.end] {
                "nil" | "true" | "false" => "33",
                _ => "35",
            },
            Kind::Str => "32",
            Kind::Number => "33",
            Kind::Comment => "90",
            _ => continue,
        };
        out.push_str(&src[at..t.start]);
        out.push_str("\x1b[");
        out.push_str(color);
        out.push('m');
        out.push_str(&src[t.start..t.end]);
        out.push_str("\x1b[0m");
        at = t.end;
    }
    out.push_str(&src[at..]);
    out
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(highlight(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_colours_tokens_and_keeps_the_text() {
        let src = "local s = 'x' -- c";
        let h = highlight(src);
        assert!(h.contains("\x1b[35mlocal\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[32m'x'\x1b[0m"), "{h:?}");
        let plain: String = {
            let mut s = String::new();
            let mut esc = false;
            for c in h.chars() {
                match (esc, c) {
                    (_, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    (false, c) => s.push(c),
                }
            }
            s
        };
        assert_eq!(plain, src);
    }
}
