//! A tiny `--flag value` parser shared by the examples, so each example's `main` shows the
//! server, not argument plumbing. Unknown flags and bad values exit with a message and code 2.

#![allow(dead_code)] // each example uses the part it needs

use std::collections::HashMap;
use std::str::FromStr;

pub struct Args {
    values: HashMap<String, Vec<String>>,
    switches: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// Parses the process arguments. `with_value` and `switches` list the accepted flags.
    pub fn parse(usage: &'static str, with_value: &[&str], switches: &[&str]) -> Args {
        let mut args = Args { values: HashMap::new(), switches: Vec::new(), usage };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                std::process::exit(0);
            } else if with_value.contains(&flag.as_str()) {
                let Some(v) = it.next() else { args.fail(&format!("{flag} needs a value")) };
                args.values.entry(flag).or_default().push(v);
            } else if switches.contains(&flag.as_str()) {
                args.switches.push(flag);
            } else {
                args.fail(&format!("unknown argument {flag:?}"));
            }
        }
        args
    }

    /// The value of `flag` (the last one, if repeated) parsed as `T`, or `default`.
    pub fn get<T: FromStr>(&self, flag: &str, default: T) -> T {
        match self.values.get(flag).and_then(|v| v.last()) {
            None => default,
            Some(v) => {
                v.parse().unwrap_or_else(|_| self.fail(&format!("{flag}: {v:?} is not a valid value")))
            }
        }
    }

    /// Every value given for a repeatable `flag`, in order.
    pub fn all(&self, flag: &str) -> Vec<String> {
        self.values.get(flag).cloned().unwrap_or_default()
    }

    /// Where a server listens: `--addr HOST:PORT`, or `--port N` as a shorthand for
    /// `127.0.0.1:N`; `127.0.0.1:default_port` when neither is given.
    pub fn listen_addr(&self, default_port: u16) -> String {
        match (self.values.contains_key("--addr"), self.values.contains_key("--port")) {
            (true, true) => self.fail("give --addr or --port, not both"),
            (true, false) => self.get("--addr", String::new()),
            (false, true) => format!("127.0.0.1:{}", self.get::<u16>("--port", default_port)),
            (false, false) => format!("127.0.0.1:{default_port}"),
        }
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    pub fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}\n\n{}", self.usage);
        std::process::exit(2);
    }
}
