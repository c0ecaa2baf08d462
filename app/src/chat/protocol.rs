//! The chat line protocol: what clients send, what the server sends back, and the rules for
//! names. Pure functions, no IO, so every rule is unit-tested here.
//!
//! Client lines are either a command (`/join rust`) or a message (anything else). Server
//! lines start with a marker a human and a test can both read:
//!
//! | line | meaning |
//! |---|---|
//! | `[12:34:56] #lobby <alice> hi` | a message |
//! | `[12:34:56] #lobby * alice waves` | an action (`/me`) |
//! | `* alice joined #lobby` | information from the server |
//! | `! unknown command /foo (try /help)` | an error; the connection stays open |
//!
//! History replayed on `/join` and `/history` uses the message format with the date added:
//! `[2026-11-27 12:34:56] #lobby <alice> hi`.

use std::fmt;

/// Longest nickname, in characters.
pub const MAX_NICK: usize = 20;
/// Longest room name, in characters.
pub const MAX_ROOM: usize = 32;
/// Shortest password, in bytes.
pub const MIN_PASSWORD: usize = 8;
/// Longest password, in bytes: bcrypt only looks at the first 72.
pub const MAX_PASSWORD: usize = 72;
/// Most history lines one `/history` returns.
pub const MAX_HISTORY: usize = 100;

/// A parsed client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/help`: list the commands.
    Help,
    /// `/register <name> <password>`: create an account and log in.
    Register {
        /// Account name (the nick rules apply).
        name: String,
        /// Password, 8 to 72 bytes.
        password: String,
    },
    /// `/login <name> <password>`.
    Login {
        /// Account name.
        name: String,
        /// Password.
        password: String,
    },
    /// `/nick <name>`: change the name others see.
    Nick(String),
    /// `/who`: list the current room's members.
    Who,
    /// `/me <action>`: an action message.
    Me(String),
    /// `/join <room>`: move to another room.
    Join(String),
    /// `/history [n]`: replay the current room's last messages.
    History(Option<usize>),
    /// `/quit`: leave.
    Quit,
    /// A message to the current room.
    Say(String),
}

/// Why a client line was not understood; its `Display` is the error line's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A `/command` that does not exist.
    Unknown(String),
    /// A known command with the wrong arguments; holds its usage line.
    Usage(&'static str),
    /// A blank line.
    Empty,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(c) => write!(f, "unknown command /{c} (try /help)"),
            ParseError::Usage(u) => write!(f, "usage: {u}"),
            ParseError::Empty => f.write_str("empty message"),
        }
    }
}

/// The text `/help` prints, one line per command.
pub const HELP: &[&str] = &[
    "/register <name> <password>   create an account and log in",
    "/login <name> <password>      log in",
    "/nick <name>                  change the name others see",
    "/join <room>                  leave the current room and join another",
    "/who                          who is in this room",
    "/me <action>                  say what you are doing",
    "/history [n]                  the last n messages of this room (default 20)",
    "/quit                         leave",
    "anything else                 a message to the room",
];

/// Parses one line from a client (without its line ending).
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.trim();
    let Some(rest) = line.strip_prefix('/') else {
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        return Ok(Command::Say(line.to_owned()));
    };
    let (cmd, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let mut words = args.split_whitespace();
    match cmd.to_ascii_lowercase().as_str() {
        "help" => Ok(Command::Help),
        "quit" | "exit" => Ok(Command::Quit),
        "who" => Ok(Command::Who),
        "register" | "login" => {
            let usage = if cmd.eq_ignore_ascii_case("register") {
                "/register <name> <password>"
            } else {
                "/login <name> <password>"
            };
            let (Some(name), Some(password), None) = (words.next(), words.next(), words.next()) else {
                return Err(ParseError::Usage(usage));
            };
            let (name, password) = (name.to_owned(), password.to_owned());
            Ok(if usage.starts_with("/register") {
                Command::Register { name, password }
            } else {
                Command::Login { name, password }
            })
        }
        "nick" => match (words.next(), words.next()) {
            (Some(n), None) => Ok(Command::Nick(n.to_owned())),
            _ => Err(ParseError::Usage("/nick <name>")),
        },
        "join" => match (words.next(), words.next()) {
            (Some(r), None) => Ok(Command::Join(r.to_owned())),
            _ => Err(ParseError::Usage("/join <room>")),
        },
        "me" if !args.is_empty() => Ok(Command::Me(args.to_owned())),
        "me" => Err(ParseError::Usage("/me <action>")),
        "history" => match (words.next(), words.next()) {
            (None, _) => Ok(Command::History(None)),
            (Some(n), None) => match n.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Command::History(Some(n.min(MAX_HISTORY)))),
                _ => Err(ParseError::Usage("/history [n], n a positive number")),
            },
            _ => Err(ParseError::Usage("/history [n]")),
        },
        other => Err(ParseError::Unknown(other.to_owned())),
    }
}

/// Checks a nickname (also used for account names): 1–20 characters from `A-Z a-z 0-9 _ -`.
pub fn check_nick(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NICK {
        return Err(format!("a name has 1 to {MAX_NICK} characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("a name may use only letters, digits, '_' and '-'".to_owned());
    }
    Ok(())
}

/// Normalises a room name: an optional leading `#` is dropped, letters are lower-cased; the
/// rest must be 1–32 characters from `a-z 0-9 _ -`.
pub fn normalize_room(room: &str) -> Result<String, String> {
    let room = room.strip_prefix('#').unwrap_or(room).to_ascii_lowercase();
    if room.is_empty() || room.len() > MAX_ROOM {
        return Err(format!("a room name has 1 to {MAX_ROOM} characters"));
    }
    if !room.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("a room name may use only letters, digits, '_' and '-'".to_owned());
    }
    Ok(room)
}

/// Checks a password's length (bcrypt ignores bytes after the 72nd, so longer ones would
/// silently weaken).
pub fn check_password(password: &str) -> Result<(), String> {
    if password.len() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(format!("a password has {MIN_PASSWORD} to {MAX_PASSWORD} bytes"));
    }
    Ok(())
}

/// What a chat message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary message.
    Say,
    /// An action (`/me`).
    Me,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Say => "say",
            Kind::Me => "me",
        }
    }

    pub(crate) fn parse(s: &str) -> Kind {
        if s == "me" {
            Kind::Me
        } else {
            Kind::Say
        }
    }
}

/// One chat message, as broadcast and as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The room it was sent to.
    pub room: String,
    /// The sender's nick at the time.
    pub sender: String,
    /// Message or action.
    pub kind: Kind,
    /// The text.
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl Message {
    /// The line clients see: `[HH:MM:SS] #room <sender> body`, with the date too for history.
    pub fn render(&self, with_date: bool) -> String {
        let at = format_time(self.at_ms, with_date);
        match self.kind {
            Kind::Say => format!("[{at}] #{} <{}> {}", self.room, self.sender, self.body),
            Kind::Me => format!("[{at}] #{} * {} {}", self.room, self.sender, self.body),
        }
    }
}

/// `HH:MM:SS` (UTC), or `YYYY-MM-DD HH:MM:SS`.
pub fn format_time(at_ms: i64, with_date: bool) -> String {
    let secs = at_ms.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let time = format!("{:02}:{:02}:{:02}", of_day / 3600, of_day % 3600 / 60, of_day % 60);
    if !with_date {
        return time;
    }
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {time}")
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_messages() {
        assert_eq!(parse("hello there"), Ok(Command::Say("hello there".into())));
        assert_eq!(parse("  /JOIN #Rust "), Ok(Command::Join("#Rust".into())));
        assert_eq!(
            parse("/login alice s3cretpw"),
            Ok(Command::Login { name: "alice".into(), password: "s3cretpw".into() })
        );
        assert_eq!(parse("/login alice"), Err(ParseError::Usage("/login <name> <password>")));
        assert_eq!(parse("/register a b c"), Err(ParseError::Usage("/register <name> <password>")));
        assert_eq!(parse("/me waves  hello"), Ok(Command::Me("waves  hello".into())));
        assert_eq!(parse("/me"), Err(ParseError::Usage("/me <action>")));
        assert_eq!(parse("/history"), Ok(Command::History(None)));
        assert_eq!(parse("/history 5000"), Ok(Command::History(Some(MAX_HISTORY))));
        assert!(parse("/history -1").is_err());
        assert!(parse("/history 0").is_err());
        assert_eq!(parse("/frobnicate"), Err(ParseError::Unknown("frobnicate".into())));
        assert_eq!(parse("   "), Err(ParseError::Empty));
        assert_eq!(parse("/quit"), Ok(Command::Quit));
        assert_eq!(ParseError::Unknown("x".into()).to_string(), "unknown command /x (try /help)");
    }

    #[test]
    fn name_rules() {
        assert!(check_nick("alice_01-x").is_ok());
        assert!(check_nick("").is_err());
        assert!(check_nick(&"a".repeat(MAX_NICK + 1)).is_err());
        assert!(check_nick("al ice").is_err());
        assert!(check_nick("<alice>").is_err());
        assert_eq!(normalize_room("#Rust-Lang").as_deref(), Ok("rust-lang"));
        assert!(normalize_room("#").is_err());
        assert!(normalize_room("a/b").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(73)).is_err());
        assert!(check_password("longenough").is_ok());
    }

    #[test]
    fn renders_messages_and_dates() {
        // 2026-11-27 12:34:56 UTC
        let at = 1_795_782_896_000;
        let m = Message {
            room: "lobby".into(),
            sender: "alice".into(),
            kind: Kind::Say,
            body: "hi".into(),
            at_ms: at,
        };
        assert_eq!(m.render(false), "[12:34:56] #lobby <alice> hi");
        assert_eq!(m.render(true), "[2026-11-27 12:34:56] #lobby <alice> hi");
        let me = Message { kind: Kind::Me, body: "waves".into(), ..m };
        assert_eq!(me.render(false), "[12:34:56] #lobby * alice waves");
        assert_eq!(format_time(0, true), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400_000, true), "2000-02-29 00:00:00");
    }
}
