//! A small Lua tokenizer for the REPL: enough to find top-level `local` statements, colour
//! input and read the expression left of the cursor. It never fails: text it cannot make sense
//! of becomes `Other` tokens, and an unfinished string or comment runs to the end.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Name,
    Keyword,
    Number,
    /// A quoted or long string (possibly unfinished).
    Str,
    /// A short or long comment (possibly unfinished).
    Comment,
    /// Punctuation and operators, one token each (`..` and `...` and `::` are one).
    Punct,
    Other,
}

/// A token: its kind and byte range in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Strings and comments: the closing delimiter was found.
    pub closed: bool,
}

pub const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_name_byte(b: u8) -> bool {
    is_name_start(b) || b.is_ascii_digit()
}

/// `[[`, `[=[` ...: the level of a long bracket opening at `i`, if one does.
fn long_open(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while s.get(j) == Some(&b'=') {
        j += 1;
    }
    (s.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// The end of a long bracket body of `level` starting at `i`: (end, closed).
fn long_close(s: &[u8], mut i: usize, level: usize) -> (usize, bool) {
    while i < s.len() {
        if s[i] == b']' {
            let mut j = i + 1;
            while j < s.len() && s[j] == b'=' {
                j += 1;
            }
            if j - i - 1 == level && s.get(j) == Some(&b']') {
                return (j + 1, true);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    (s.len(), false)
}

/// Splits `src` into tokens (whitespace dropped).
pub fn tokens(src: &str) -> Vec<Token> {
    let s = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        let start = i;
        let mut closed = true;
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'-' && s.get(i + 1) == Some(&b'-') {
            if let Some(level) = long_open(s, i + 2) {
                let (end, c) = long_close(s, i + 4 + level, level);
                i = end;
                closed = c;
            } else {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
            }
            Kind::Comment
        } else if is_name_start(b) {
            while i < s.len() && is_name_byte(s[i]) {
                i += 1;
            }
            if KEYWORDS.contains(&&src[start..i]) {
                Kind::Keyword
            } else {
                Kind::Name
            }
        } else if b.is_ascii_digit() || (b == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < s.len() {
                let c = s[i];
                let exp = matches!(c, b'e' | b'E' | b'p' | b'P');
                if exp && matches!(s.get(i + 1), Some(b'+' | b'-')) {
                    i += 2;
                } else if c.is_ascii_alphanumeric() || c == b'.' {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Number
        } else if b == b'"' || b == b'\'' {
            i += 1;
            closed = false;
            while i < s.len() {
                match s[i] {
                    b'\\' => i += 2,
                    b'\n' => break,
                    c if c == b => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            i = i.min(s.len());
            Kind::Str
        } else if let Some(level) = long_open(s, i) {
            let (end, c) = long_close(s, i + 2 + level, level);
            i = end;
            closed = c;
            Kind::Str
        } else if b.is_ascii_punctuation() {
            let three = &s[i..(i + 3).min(s.len())];
            i += if three == b"..." {
                3
            } else if matches!(
                &three[..three.len().min(2)],
                b".." | b"==" | b"~=" | b"<=" | b">=" | b"::"
            ) {
                2
            } else {
                1
            };
            Kind::Punct
        } else {
            i += 1;
            Kind::Other
        };
        out.push(Token {
            kind,
            start,
            end: i,
            closed,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, &str)> {
        tokens(src)
            .into_iter()
            .map(|t| (t.kind, &src[t.start..t.end]))
            .collect()
    }

    #[test]
    fn names_keywords_strings_comments() {
        assert_eq!(
            kinds("local x = 'a\\'b' -- hi\nx..[==[z]==]"),
            vec![
                (Kind::Keyword, "local"),
                (Kind::Name, "x"),
                (Kind::Punct, "="),
                (Kind::Str, "'a\\'b'"),
                (Kind::Comment, "-- hi"),
                (Kind::Name, "x"),
                (Kind::Punct, ".."),
                (Kind::Str, "[==[z]==]"),
            ]
        );
    }

    #[test]
    fn unfinished_strings_and_comments_run_to_the_end() {
        let t = tokens("x = [[abc");
        assert_eq!(
            t.last().map(|t| (t.kind, t.closed)),
            Some((Kind::Str, false))
        );
        let t = tokens("--[[ open");
        assert_eq!(t[0].kind, Kind::Comment);
        assert!(!t[0].closed);
        let t = tokens("'abc");
        assert!(!t[0].closed);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("0x1F 1e-3 .5 3"),
            vec![
                (Kind::Number, "0x1F"),
                (Kind::Number, "1e-3"),
                (Kind::Number, ".5"),
                (Kind::Number, "3"),
            ]
        );
    }
}
