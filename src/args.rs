//! Tiny command-line helpers for the examples (no panics on bad input).

use std::process::ExitCode;

/// The exit of an example: success, or one line `PROGRAM: ERROR` on stderr and failure.
pub fn exit(program: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Takes the value of option `name` at `args[*i]`, accepting `--name VALUE` and `--name=VALUE`.
/// Returns `Ok(None)` when `args[*i]` is another option.
pub fn value<'a>(args: &'a [String], i: &mut usize, name: &str) -> Result<Option<&'a str>, String> {
    let arg = &args[*i];
    if arg == name {
        *i += 1;
        return args
            .get(*i)
            .map(|v| Some(v.as_str()))
            .ok_or_else(|| format!("{name} needs a value"));
    }
    Ok(arg
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('=')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings() {
        let args: Vec<String> = ["--listen", "1.2.3.4:5", "--config=x.conf", "--listen"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut i = 0;
        assert_eq!(value(&args, &mut i, "--listen").unwrap(), Some("1.2.3.4:5"));
        assert_eq!(i, 1);
        i = 2;
        assert_eq!(value(&args, &mut i, "--config").unwrap(), Some("x.conf"));
        assert_eq!(value(&args, &mut i, "--listen").unwrap(), None);
        i = 3;
        assert!(value(&args, &mut i, "--listen").is_err());
    }
}
