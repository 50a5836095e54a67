//! `weir.yaml`: the cluster's configuration file (Flink's
//! `flink-conf.yaml`), read by `weir jobmanager` and `weir taskmanager`
//! from `--config PATH` (or `WEIR_CONFIG`). It has a section per role whose
//! keys are the role's flags in camelCase:
//!
//! ```yaml
//! jobmanager:
//!   rpcAddress: 0.0.0.0:6123
//!   checkpointStorage: s3://weir/checkpoints
//! taskmanager:
//!   jobmanager: weir-jobmanager:6123
//!   slots: 4
//! ```
//!
//! A flag beats its `WEIR_...` variable, which beats the file, which beats
//! the default. The file's values become flags placed before the command
//! line's (so a flag given there wins), and are left out where the
//! variable is set. Unknown keys are errors that name the key and the file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::CommandFactory;

/// The roles that read the file.
const ROLES: &[&str] = &["jobmanager", "taskmanager"];

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Where `--config`/`WEIR_CONFIG` points, if anywhere.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("WEIR_CONFIG").map(PathBuf::from)
}

/// The command line with the configuration file's values for the role
/// inserted as flags right after the role's name.
pub fn with_config_file<C: CommandFactory>(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(role_at) = args
        .iter()
        .position(|a| ROLES.contains(&a.to_string_lossy().as_ref()))
    else {
        return Ok(args);
    };
    let Some(path) = config_path(&args[role_at..]) else {
        return Ok(args);
    };
    let role = args[role_at].to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the configuration {}", path.display()))?;
    let file: BTreeMap<String, BTreeMap<String, serde_yaml_ng::Value>> =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for section in file.keys() {
        if !ROLES.contains(&section.as_str()) {
            bail!(
                "{}: unknown section '{section}' (known: {})",
                path.display(),
                ROLES.join(", ")
            );
        }
    }
    let Some(values) = file.get(&role) else {
        return Ok(args);
    };
    let command = C::command();
    let subcommand = command
        .find_subcommand(&role)
        .ok_or_else(|| anyhow!("no command {role}"))?;
    let mut flags: Vec<OsString> = Vec::new();
    for (key, value) in values {
        let long = kebab(key);
        let arg = subcommand
            .get_arguments()
            .find(|a| {
                long != "config"
                    && (a.get_long() == Some(long.as_str())
                        || a.get_all_aliases()
                            .is_some_and(|aliases| aliases.contains(&long.as_str())))
            })
            .ok_or_else(|| {
                let known: Vec<String> = subcommand
                    .get_arguments()
                    // A flag whose key is not its name in camelCase
                    // (--taskmanager-slots, key taskManagerSlots) carries
                    // the key's spelling as its alias.
                    .filter_map(|a| {
                        a.get_all_aliases()
                            .and_then(|aliases| aliases.first().copied())
                            .or(a.get_long())
                    })
                    .filter(|l| *l != "config" && *l != "help")
                    .map(|l| {
                        let mut parts = l.split('-');
                        let first = parts.next().unwrap_or_default().to_string();
                        parts.fold(first, |mut acc, p| {
                            let mut chars = p.chars();
                            if let Some(c) = chars.next() {
                                acc.push(c.to_ascii_uppercase());
                                acc.extend(chars);
                            }
                            acc
                        })
                    })
                    .collect();
                anyhow!(
                    "{}: {role}.{key} is not a setting (known: {})",
                    path.display(),
                    known.join(", ")
                )
            })?;
        if arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some())
        {
            continue;
        }
        if let serde_yaml_ng::Value::Sequence(items) = value {
            // A list setting (allowedPaths): the flag once per item.
            for item in items {
                let item = match item {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    serde_yaml_ng::Value::Number(n) => n.to_string(),
                    other => bail!(
                        "{}: {role}.{key} must list strings, not {other:?}",
                        path.display()
                    ),
                };
                flags.push(format!("--{long}").into());
                flags.push(item.into());
            }
            continue;
        }
        let value = match value {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            serde_yaml_ng::Value::Bool(true) => {
                flags.push(format!("--{long}").into());
                continue;
            }
            serde_yaml_ng::Value::Bool(false) => continue,
            other => bail!(
                "{}: {role}.{key} must be a string, number, boolean or list, not {other:?}",
                path.display()
            ),
        };
        flags.push(format!("--{long}").into());
        flags.push(value.into());
    }
    let mut out = args[..=role_at].to_vec();
    out.extend(flags);
    out.extend(args[role_at + 1..].iter().cloned());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_keys_are_the_flags() {
        assert_eq!(kebab("checkpointStorage"), "checkpoint-storage");
        assert_eq!(kebab("slots"), "slots");
    }
}
