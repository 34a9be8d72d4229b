//! The REPL's dot commands (`.help`, `.exit`, `.load FILE` ...), parsed from an input line.

/// A dot command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Exit,
    Clear,
    Editor,
    Load(String),
    Save(String),
    /// `.prof ARGS`: start, stop or read a profiler.
    Prof(String),
    /// `.something` we do not know, or a command missing its argument.
    Invalid(String),
}

pub const HELP: &str = "\
.clear    Reset the session: prompt locals, `_` and globals back as they started
.editor   Enter editor mode: several lines run together (Ctrl+D to run, Ctrl+C to cancel)
.exit     Exit the REPL
.help     Print this help message
.load     Run a file in this session: .load FILE
.prof     Profile: .prof cpu|native|heap start|stop, .prof loop [start|stop], .prof heap snapshot [FILE]
.save     Save every input of this session to a file: .save FILE

Press Ctrl+C to cancel the input or interrupt running code, Ctrl+D to exit.
Tab completes names, fields (a.b.), methods (obj:) and modules (require('...).
";

/// The command on `line`, if it is one (`.5` and other Lua stay Lua).
pub fn parse(line: &str) -> Option<Command> {
    let line = line.trim();
    let rest = line.strip_prefix('.')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    let needs_file = |make: fn(String) -> Command| {
        if arg.is_empty() {
            Command::Invalid(format!(".{name} needs a file name"))
        } else {
            make(arg.to_string())
        }
    };
    Some(match name {
        "help" => Command::Help,
        "exit" => Command::Exit,
        "clear" => Command::Clear,
        "editor" => Command::Editor,
        "load" => needs_file(Command::Load),
        "save" => needs_file(Command::Save),
        "prof" => Command::Prof(arg.to_string()),
        _ => Command::Invalid(format!("Invalid REPL keyword .{name} (see .help)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_lua() {
        assert_eq!(parse(".exit"), Some(Command::Exit));
        assert_eq!(
            parse("  .load  a b.lua "),
            Some(Command::Load("a b.lua".into()))
        );
        assert!(matches!(parse(".save"), Some(Command::Invalid(_))));
        assert!(matches!(parse(".nope"), Some(Command::Invalid(_))));
        assert_eq!(parse(".5"), None);
        assert_eq!(parse("x.y"), None);
    }
}
