//! What to complete, read off the text left of the cursor without running anything: a module
//! name inside `require('`, or a chain like `a.b.` / `obj:` / `require('core').Emitter:new():`
//! followed by a partial word. The Lua side (`repl.lua`, `complete`) walks tables and `__index`
//! tables along the chain; a call is followed only when its result is known without calling it
//! (`require('x')` is `package.loaded.x`, `C:new(...)` is an instance of the class `C`).

use super::lex::{tokens, Kind, Token};

/// One step of the chain left of the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The first name: a local of the session or a global.
    Root(String),
    /// `require('name')`: the loaded module, if it is loaded.
    Require(String),
    /// `.name` or `["name"]`.
    Field(String),
    /// `:new(...)` / `.new(...)`: an object whose class is the value so far.
    Instance,
}

/// What the cursor is completing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// A module name inside `require('...`.
    Module { partial: String },
    /// A name: a global or keyword when `chain` is empty, else a field (a method after `:`).
    Path {
        chain: Vec<Step>,
        method: bool,
        partial: String,
    },
    /// Inside a comment or a string, after a number ...: nothing to offer.
    Nothing,
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start..t.end]
}

/// The body of a string token (quotes or long brackets stripped); `None` for other tokens.
fn string_body(src: &str, t: &Token) -> Option<String> {
    let s = text(src, t);
    let b = s.as_bytes();
    match b.first() {
        Some(b'"' | b'\'') => {
            let end = if t.closed { s.len() - 1 } else { s.len() };
            Some(s[1..end.max(1)].to_string())
        }
        Some(b'[') => {
            let level = s[1..].bytes().take_while(|&c| c == b'=').count();
            let open = level + 2;
            let end = if t.closed { s.len() - open } else { s.len() };
            s.get(open..end.max(open)).map(str::to_string)
        }
        _ => None,
    }
}

/// Reads `line` (the text left of the cursor): where the completed word starts and what it is.
pub fn context(line: &str) -> (usize, Context) {
    let toks: Vec<Token> = tokens(line);
    let end = line.len();
    let Some(last) = toks.last() else {
        return (
            end,
            Context::Path {
                chain: vec![],
                method: false,
                partial: String::new(),
            },
        );
    };
    // Inside an unfinished string: `require('` completes module names, other strings nothing.
    if last.kind == Kind::Str && !last.closed {
        let before = &toks[..toks.len() - 1];
        let is_require = match before {
            [.., r, p] => text(line, p) == "(" && text(line, r) == "require",
            [.., r] => text(line, r) == "require",
            [] => false,
        };
        let body = string_body(line, last).unwrap_or_default();
        if is_require && last.kind == Kind::Str && !text(line, last).starts_with('[') {
            return (end - body.len(), Context::Module { partial: body });
        }
        return (end, Context::Nothing);
    }
    if last.kind == Kind::Comment && (last.end == end || !last.closed) {
        // A short comment runs to the end of the line; an unclosed long one to the end.
        let short = !text(line, last).starts_with("--[");
        if short || !last.closed {
            return (end, Context::Nothing);
        }
    }
    let code: Vec<&Token> = toks.iter().filter(|t| t.kind != Kind::Comment).collect();
    let (partial, rest) = match code.split_last() {
        Some((t, rest)) if t.end == end && matches!(t.kind, Kind::Name | Kind::Keyword) => {
            (text(line, t).to_string(), rest)
        }
        Some((t, _)) if t.end == end && t.kind != Kind::Punct => return (end, Context::Nothing),
        _ => (String::new(), &code[..]),
    };
    let start = end - partial.len();
    let Some((sep, before)) = rest.split_last() else {
        return (
            start,
            Context::Path {
                chain: vec![],
                method: false,
                partial,
            },
        );
    };
    let sep_text = text(line, sep);
    if sep.kind != Kind::Punct || (sep_text != "." && sep_text != ":") {
        return (
            start,
            Context::Path {
                chain: vec![],
                method: false,
                partial,
            },
        );
    }
    match chain(line, before) {
        Some(chain) => (
            start,
            Context::Path {
                chain,
                method: sep_text == ":",
                partial,
            },
        ),
        None => (start, Context::Nothing),
    }
}

/// Reads the chain that ends at the end of `toks`, backwards; `None` if it cannot be known
/// without running code.
fn chain(src: &str, toks: &[&Token]) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut i = toks.len();
    loop {
        i = i.checked_sub(1)?;
        let t = toks[i];
        let s = text(src, t);
        match (t.kind, s) {
            (Kind::Name, _) => {
                let prev = i.checked_sub(1).map(|p| text(src, toks[p]));
                match prev {
                    Some(".") => {
                        steps.push(Step::Field(s.to_string()));
                        i -= 1;
                    }
                    Some(":") => return None,
                    _ => {
                        steps.push(Step::Root(s.to_string()));
                        break;
                    }
                }
            }
            (Kind::Punct, "]") => {
                // ["name"]
                let body = toks
                    .get(i.checked_sub(1)?)
                    .and_then(|t| string_body(src, t))?;
                let open = toks[i.checked_sub(2)?];
                if text(src, open) != "[" {
                    return None;
                }
                steps.push(Step::Field(body));
                i -= 2;
            }
            (Kind::Punct, ")") => {
                // find the matching "("
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match text(src, toks[j]) {
                        ")" => depth += 1,
                        "(" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j = j.checked_sub(1)?;
                }
                let callee = toks.get(j.checked_sub(1)?)?;
                let name = text(src, callee);
                let args = &toks[j + 1..i];
                if name == "require" && callee.kind == Kind::Name {
                    let [arg] = args else { return None };
                    steps.push(Step::Require(string_body(src, arg)?));
                    i = j - 1;
                    let prev = i.checked_sub(1).map(|p| text(src, toks[p]));
                    if matches!(prev, Some("." | ":")) {
                        return None;
                    }
                    break;
                }
                let via = text(src, toks.get(j.checked_sub(2)?)?);
                if !matches!(name, "new" | "create") || !matches!(via, "." | ":") {
                    return None;
                }
                steps.push(Step::Instance);
                // continue with the receiver, before `.new` / `:new`
                i = j - 2;
            }
            (Kind::Str, _) => {
                // require 'name'
                let r = toks.get(i.checked_sub(1)?)?;
                if text(src, r) != "require" {
                    return None;
                }
                steps.push(Step::Require(string_body(src, t)?));
                break;
            }
            _ => return None,
        }
    }
    steps.reverse();
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(chain: Vec<Step>, method: bool, partial: &str) -> Context {
        Context::Path {
            chain,
            method,
            partial: partial.into(),
        }
    }

    #[test]
    fn globals_fields_and_methods() {
        assert_eq!(context("pri"), (0, path(vec![], false, "pri")));
        assert_eq!(context("x = pri"), (4, path(vec![], false, "pri")));
        assert_eq!(
            context("string.fo"),
            (7, path(vec![Step::Root("string".into())], false, "fo"))
        );
        assert_eq!(
            context("a.b:"),
            (
                4,
                path(
                    vec![Step::Root("a".into()), Step::Field("b".into())],
                    true,
                    ""
                )
            )
        );
        assert_eq!(
            context("t[\"k\"].z"),
            (
                7,
                path(
                    vec![Step::Root("t".into()), Step::Field("k".into())],
                    false,
                    "z"
                )
            )
        );
    }

    #[test]
    fn require_and_constructors_are_followed_without_calls() {
        assert_eq!(
            context("require('core').Emitter:new():em"),
            (
                30,
                path(
                    vec![
                        Step::Require("core".into()),
                        Step::Field("Emitter".into()),
                        Step::Instance
                    ],
                    true,
                    "em"
                )
            )
        );
        assert_eq!(context("f():x").1, Context::Nothing);
        assert_eq!(context("a.b(1).c").1, Context::Nothing);
    }

    #[test]
    fn module_names_strings_and_comments() {
        assert_eq!(
            context("local t = require('ti"),
            (
                19,
                Context::Module {
                    partial: "ti".into()
                }
            )
        );
        assert_eq!(
            context("require \"").1,
            Context::Module {
                partial: String::new()
            }
        );
        assert_eq!(context("print('pri").1, Context::Nothing);
        assert_eq!(context("x -- pri").1, Context::Nothing);
        assert_eq!(context("1.").1, Context::Nothing);
    }
}
