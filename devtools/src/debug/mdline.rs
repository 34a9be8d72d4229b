//! Where a MobDebug command line's params are. The IDE appends them to `EXEC <chunk>` and
//! `STACK` as a trailing Lua comment, ` -- {maxlevel = 1, stack = 2}`, and compiles the whole
//! line as the chunk. Real MobDebug finds them with the pattern `--%s*(%b{})%s*$`: braces
//! counted blind to strings, so a `}` inside a string in the params loses them. Here the line is
//! read as Lua's lexer reads it (quoted and long strings, long and line comments), and the
//! params are the body of the line comment that ends the line, when that body is a table.
//! `--` and brackets inside the chunk's strings or inside the params (`"--[[x]]"`) are text.

/// The params text (`{...}`, trimmed) of an EXEC chunk or STACK argument, if it has any.
pub fn trailing_params(line: &str) -> Option<&str> {
    params_comment(line).map(|(_, params)| params)
}

/// Where the params comment starts (the index of its `--`; all before it is the chunk) and
/// the params text, if the line has them.
pub fn params_comment(line: &str) -> Option<(usize, &str)> {
    let b = line.as_bytes();
    let mut i = 0;
    // where a line comment running to the end of the line starts
    let mut last = None;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => match long_open(b, i + 2) {
                // a long comment; unclosed, it takes the rest of the line
                Some((level, from)) => i = long_close(b, from, level)?,
                None => {
                    let end = line_end(b, i + 2);
                    if end == b.len() {
                        last = Some(i);
                    }
                    i = end;
                }
            },
            b'"' | b'\'' => i = string_end(b, i),
            b'[' => match long_open(b, i) {
                Some((level, from)) => i = long_close(b, from, level)?,
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    let at = last?;
    // (after an ASCII `--`: a char boundary)
    let body = line.get(at + 2..)?.trim();
    body.starts_with('{').then_some((at, body))
}

/// `[`, `=`*level, `[` at `at`: the level and the index after the opening.
fn long_open(b: &[u8], at: usize) -> Option<(usize, usize)> {
    if b.get(at) != Some(&b'[') {
        return None;
    }
    let level = b[at + 1..].iter().take_while(|&&c| c == b'=').count();
    (b.get(at + 1 + level) == Some(&b'[')).then_some((level, at + 2 + level))
}

/// The index after the `]`, `=`*level, `]` closing a long bracket opened before `from`.
fn long_close(b: &[u8], from: usize, level: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if b[i] == b']' {
            let eq = b[i + 1..].iter().take_while(|&&c| c == b'=').count();
            if eq == level && b.get(i + 1 + eq) == Some(&b']') {
                return Some(i + 2 + eq);
            }
        }
        i += 1;
    }
    None
}

/// The first line end (`\n`, `\r`, or the `\f` ZeroBrane sends for one) at or after `from`.
fn line_end(b: &[u8], from: usize) -> usize {
    b[from.min(b.len())..]
        .iter()
        .position(|&c| matches!(c, b'\n' | b'\r' | b'\x0c'))
        .map_or(b.len(), |p| from + p)
}

/// The index after the quoted string opened at `at` (at its line's end if unterminated).
fn string_end(b: &[u8], at: usize) -> usize {
    let q = b[at];
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            c if c == q => return i + 1,
            b'\\' => i += 2,
            b'\n' | b'\r' | b'\x0c' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::trailing_params as p;

    #[test]
    fn the_params_are_the_table_in_the_comment_that_ends_the_line() {
        assert_eq!(p("return x -- {stack = 1}"), Some("{stack = 1}"));
        assert_eq!(p("-- {maxlevel = 1}  "), Some("{maxlevel = 1}"));
        assert_eq!(p("return x--{a=1}"), Some("{a=1}"));
        // `--` and long brackets inside the params are the params' own text
        assert_eq!(
            p(r#"return x -- {note = "--[[x]] -- y", sep = '}', c = false}"#),
            Some(r#"{note = "--[[x]] -- y", sep = '}', c = false}"#)
        );
        // ... and inside the chunk's strings and comments they are the chunk's
        assert_eq!(
            p(r#"return "-- {a}", [==[-- {b}]==] --[[ -- {c} ]] -- {stack = 2}"#),
            Some("{stack = 2}")
        );
        assert_eq!(p(r#"return 'it''s -- {x}\'' -- {d = 1}"#), Some("{d = 1}"));
        // a multi-line chunk (ZeroBrane sends its line ends as \r\f): the last line counts
        assert_eq!(p("local a -- {x}\r\x0creturn a -- {y}"), Some("{y}"));
        assert_eq!(p("return a -- {y}\r\x0creturn 1"), None);
        assert_eq!(
            super::params_comment("return '--' -- {y}"),
            Some((12, "{y}"))
        );
    }

    #[test]
    fn a_line_without_params_has_none() {
        for line in [
            "",
            "return 1",
            "return x -- a note",
            r#"return "-- {a}""#,
            "return [[ -- {a} ]]",
            "return 1 --[[ -- {a = 1} ]]",
            "return 1 --[==[ -- {a = 1}",
            "return '-- {a}",
            "--",
            "-",
            "[=",
            "'\\",
        ] {
            assert_eq!(p(line), None, "{line:?}");
        }
    }

    proptest::proptest! {
        /// Any text with params appended the way the IDE appends them gives those params back
        /// when the text holds no unclosed string or comment.
        #[test]
        fn appended_params_are_found(
            chunk in "[a-z0-9 (),.=+\"'{}-]{0,40}",
            note in "[a-z {}\\[\\]=-]{0,20}",
        ) {
            let params = format!("{{note = {note:?}, stack = 1}}");
            let line = format!("{chunk} -- {params}");
            let got = p(&line);
            // the chunk may open a string or comment that swallows part of the rest (a quote
            // in the note can close it again): then whatever comment ends the line, a table
            // at the end of the line, or none
            proptest::prop_assert!(
                got.is_none_or(|g| g.starts_with('{') && line.ends_with(g)),
                "{line:?} -> {got:?}"
            );
            if !chunk.contains(['"', '\'', '[', '-']) {
                proptest::prop_assert_eq!(got, Some(params.as_str()));
            }
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn any_line_returns(line in "\\PC{0,80}") {
            let _ = p(&line);
        }
    }
}
