//! Top-level `local` statements made persistent: `local x = 1` typed at the prompt must still be
//! visible on the next line, which is a new chunk. Each top-level `local a, b = ...` becomes
//! `DECLARE.a, DECLARE.b = ...` and `local function f` becomes `function DECLARE.f`, where
//! `DECLARE` is a table whose `__newindex` declares the name in the session's environment (see
//! `repl.lua`). The right-hand side is still evaluated before the names exist, as in Lua
//! (`local print = print` works). Locals inside blocks and functions are left alone.

use super::lex::{tokens, Kind, Token};

/// The name the rewritten chunk declares locals through (the session environment answers it).
pub const DECLARE: &str = "__repl_local__";

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    &src[t.start..t.end]
}

/// Rewrites the top-level locals of `src`; returns `src` unchanged when it has none.
pub fn rewrite_locals(src: &str) -> String {
    let toks = tokens(src);
    let code: Vec<&Token> = toks.iter().filter(|t| t.kind != Kind::Comment).collect();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut depth: usize = 0;
    let mut i = 0;
    while i < code.len() {
        let t = code[i];
        if t.kind != Kind::Keyword {
            i += 1;
            continue;
        }
        match text(src, t) {
            "function" | "do" | "if" | "repeat" => depth += 1,
            "end" | "until" => depth = depth.saturating_sub(1),
            "local" if depth == 0 => {
                let next = code.get(i + 1).copied();
                let after = code.get(i + 2).copied();
                match (next, after) {
                    (Some(f), Some(name))
                        if f.kind == Kind::Keyword
                            && text(src, f) == "function"
                            && name.kind == Kind::Name =>
                    {
                        edits.push((t.start, f.start, String::new()));
                        edits.push((name.start, name.start, format!("{DECLARE}.")));
                        // the `function` keyword is counted on the next turn
                    }
                    (Some(n), _) if n.kind == Kind::Name => {
                        edits.push((t.start, n.start, String::new()));
                        let mut j = i + 1;
                        let mut last = n.end;
                        while let Some(n) = code.get(j).filter(|n| n.kind == Kind::Name) {
                            edits.push((n.start, n.start, format!("{DECLARE}.")));
                            last = n.end;
                            let comma = code.get(j + 1).filter(|c| text(src, c) == ",");
                            if comma.is_none() {
                                break;
                            }
                            j += 2;
                        }
                        let assigns = code
                            .get(j + 1)
                            .is_some_and(|e| e.kind == Kind::Punct && text(src, e) == "=");
                        if !assigns {
                            edits.push((last, last, " = nil".into()));
                        }
                        i = j;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        i += 1;
    }
    if edits.is_empty() {
        return src.to_string();
    }
    let mut out = String::with_capacity(src.len() + edits.len() * DECLARE.len());
    let mut at = 0;
    for (start, end, with) in edits {
        out.push_str(&src[at..start]);
        out.push_str(&with);
        at = end;
    }
    out.push_str(&src[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        rewrite_locals(s).replace(DECLARE, "L")
    }

    #[test]
    fn top_level_locals_are_declared() {
        assert_eq!(r("local x = 1"), "L.x = 1");
        assert_eq!(r("local a, b = f()"), "L.a, L.b = f()");
        assert_eq!(r("local y"), "L.y = nil");
        assert_eq!(r("local a, b; x = 1"), "L.a, L.b = nil; x = 1");
        assert_eq!(
            r("local function f(n) local t = n return t end"),
            "function L.f(n) local t = n return t end"
        );
    }

    #[test]
    fn nested_locals_strings_and_comments_are_left_alone() {
        let s = "do local x = 1 end if a then local y = 2 end for i = 1, 2 do local z end";
        assert_eq!(r(s), s);
        let s = "print('local x = 1') -- local y = 2";
        assert_eq!(r(s), s);
        assert_eq!(
            r("function g() local q end local w = 3"),
            "function g() local q end L.w = 3"
        );
        assert_eq!(
            r("repeat local k = 1 until k local v = 2"),
            "repeat local k = 1 until k L.v = 2"
        );
    }
}
