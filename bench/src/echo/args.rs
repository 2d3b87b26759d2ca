//! A tiny command-line parser: `--name value`, `--name=value`, `--flag`,
//! and everything after `--` passed through untouched. Options are looked
//! up by name, in any order; [`Args::finish`] rejects what nobody asked
//! for, so a typo is an error instead of a silently ignored option.

use std::fmt::Display;
use std::str::FromStr;

/// The unparsed command line of one binary.
pub struct Args {
    /// Shown with every usage error and for `--help`.
    usage: &'static str,
    /// Tokens before `--` that no lookup has consumed yet.
    tokens: Vec<String>,
    /// Tokens after `--`, untouched.
    rest: Vec<String>,
}

impl Args {
    /// The arguments of this process; prints `usage` and exits on `--help`.
    pub fn from_env(usage: &'static str) -> Self {
        Self::new(usage, std::env::args().skip(1))
    }

    /// Arguments from any list (the program name not included).
    pub fn new(usage: &'static str, args: impl IntoIterator<Item = String>) -> Self {
        let mut tokens = Vec::new();
        let mut rest = Vec::new();
        let mut it = args.into_iter();
        for a in it.by_ref() {
            if a == "--" {
                break;
            }
            if a == "--help" || a == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            tokens.push(a);
        }
        rest.extend(it);
        Args {
            usage,
            tokens,
            rest,
        }
    }

    /// The value of `--name`, parsed, or `default` when absent.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.opt(name).unwrap_or(default)
    }

    /// The value of `--name`, parsed, if given.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let raw = self.take_value(name)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(e) => self.usage_error(&format!("--{name} {raw}: {e}")),
        }
    }

    /// Whether the bare flag `--name` was given.
    pub fn flag(&mut self, name: &str) -> bool {
        let want = format!("--{name}");
        match self.tokens.iter().position(|t| *t == want) {
            Some(i) => {
                self.tokens.remove(i);
                true
            }
            None => false,
        }
    }

    /// Checks that every option was consumed and returns what followed `--`.
    pub fn finish(self) -> Vec<String> {
        if let Some(t) = self.tokens.first() {
            self.usage_error(&format!("unexpected argument {t:?}"));
        }
        self.rest
    }

    /// Prints `msg` and the usage, then exits with status 2.
    pub fn usage_error(&self, msg: &str) -> ! {
        eprintln!("error: {msg}\n\n{}", self.usage);
        std::process::exit(2);
    }

    /// Removes `--name value` or `--name=value` and returns the value.
    fn take_value(&mut self, name: &str) -> Option<String> {
        let bare = format!("--{name}");
        let prefix = format!("--{name}=");
        let i = self
            .tokens
            .iter()
            .position(|t| *t == bare || t.starts_with(&prefix))?;
        let token = self.tokens.remove(i);
        if let Some(v) = token.strip_prefix(&prefix) {
            return Some(v.to_string());
        }
        if i < self.tokens.len() {
            Some(self.tokens.remove(i))
        } else {
            self.usage_error(&format!("{bare} needs a value"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        Args::new("usage", s.split_whitespace().map(String::from))
    }

    #[test]
    fn values_flags_and_rest() {
        let mut a = args("--conns 100 --quick --size=64 -- server --buf 1");
        assert_eq!(a.get("size", 0usize), 64);
        assert!(a.flag("quick"));
        assert!(!a.flag("slow"));
        assert_eq!(a.get("conns", 1u32), 100);
        assert_eq!(a.get("secs", 2.5f64), 2.5);
        assert_eq!(a.opt::<u32>("missing"), None);
        assert_eq!(a.finish(), ["server", "--buf", "1"]);
    }
}
