//! Validation of the F-Stack config file before `ff_init` sees it.
//!
//! Real F-Stack calls `exit(1)` from inside `ff_init` on a missing or malformed config, which
//! would end the process without a useful error. Checking first turns those cases into
//! [`Error::Config`] values that say which file and line is wrong.

use std::path::Path;

use crate::error::{Error, Result};

/// Keys whose values F-Stack parses as integers; a non-number there is a config error.
const INTEGER_KEYS: &[(&str, &str)] = &[
    ("dpdk", "channel"),
    ("dpdk", "memory"),
    ("dpdk", "promiscuous"),
    ("dpdk", "numa_on"),
    ("dpdk", "tx_csum_offoad_skip"),
    ("dpdk", "tso"),
    ("dpdk", "vlan_strip"),
    ("dpdk", "idle_sleep"),
    ("dpdk", "pkt_tx_delay"),
    ("dpdk", "symmetric_rss"),
    ("dpdk", "nb_vdev"),
    ("dpdk", "nb_bond"),
    ("dpdk", "no_huge"),
    ("freebsd.boot", "hz"),
];

/// Checks that `path` is a readable INI file F-Stack will accept: `[section]` headers,
/// `key = value` (or `key: value`) lines, `;`/`#` comments, and a `[dpdk]` section with
/// `lcore_mask`.
pub(crate) fn validate(path: &Path) -> Result<()> {
    let err = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let text = String::from_utf8(text).map_err(|_| err("it is not UTF-8 text".into()))?;

    let mut section: Option<&str> = None;
    let mut has_lcore_mask = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .split_once(']')
                .map(|(name, _)| name.trim())
                .filter(|name| !name.is_empty())
                .ok_or_else(|| err(format!("line {line_no}: bad section header `{line}`")))?;
            section = Some(name);
            continue;
        }
        let Some(sep) = line.find(['=', ':']) else {
            return Err(err(format!(
                "line {line_no}: expected `key = value` or `[section]`, found `{line}`"
            )));
        };
        let key = line[..sep].trim();
        let value = line[sep + 1..]
            .split(" ;")
            .next()
            .unwrap_or_default()
            .trim();
        if key.is_empty() {
            return Err(err(format!("line {line_no}: missing key before `=`")));
        }
        let Some(section) = section else {
            return Err(err(format!(
                "line {line_no}: `{key}` appears before any [section]"
            )));
        };
        if INTEGER_KEYS.contains(&(section, key)) && value.parse::<i64>().is_err() {
            return Err(err(format!(
                "line {line_no}: [{section}] {key} must be an integer, found `{value}`"
            )));
        }
        if section == "dpdk" && key == "lcore_mask" {
            if value.is_empty() || u64::from_str_radix(value.trim_start_matches("0x"), 16).is_err()
            {
                return Err(err(format!(
                    "line {line_no}: [dpdk] lcore_mask must be a hex core mask, found `{value}`"
                )));
            }
            has_lcore_mask = true;
        }
    }
    if !has_lcore_mask {
        return Err(err("no `lcore_mask` in a [dpdk] section".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn check(text: &str) -> Result<()> {
        let mut f = tempfile();
        f.1.write_all(text.as_bytes()).unwrap();
        let r = validate(&f.0);
        std::fs::remove_file(&f.0).unwrap();
        r
    }

    fn tempfile() -> (std::path::PathBuf, std::fs::File) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "fstack-config-test-{}-{}.conf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let f = std::fs::File::create(&p).unwrap();
        (p, f)
    }

    #[test]
    fn accepts_a_valid_config() {
        check(
            "; comment\n[dpdk]\nlcore_mask=1\nidle_sleep = 0 ; inline\n[freebsd.boot]\nhz=1000\n",
        )
        .unwrap();
    }

    #[test]
    fn names_the_bad_line() {
        let e = check("[dpdk]\nlcore_mask=1\nthis is not ini\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = check("[dpdk\nlcore_mask=1\n").unwrap_err();
        assert!(e.to_string().contains("line 1: bad section header"), "{e}");
        let e = check("[dpdk]\nlcore_mask=1\nidle_sleep=soon\n").unwrap_err();
        assert!(
            e.to_string().contains("idle_sleep must be an integer"),
            "{e}"
        );
        let e = check("lcore_mask=1\n").unwrap_err();
        assert!(e.to_string().contains("before any [section]"), "{e}");
    }

    #[test]
    fn requires_lcore_mask() {
        let e = check("[dpdk]\nchannel=4\n").unwrap_err();
        assert!(e.to_string().contains("lcore_mask"), "{e}");
        let e = check("[dpdk]\nlcore_mask=zz\n").unwrap_err();
        assert!(e.to_string().contains("hex core mask"), "{e}");
    }

    #[test]
    fn missing_file_says_so() {
        let e = validate(Path::new("/nonexistent/f-stack.conf")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/f-stack.conf"), "{msg}");
        assert!(msg.contains("No such file"), "{msg}");
    }
}
