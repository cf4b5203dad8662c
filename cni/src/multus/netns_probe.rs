//! A read-only look into a pod's network namespace: which of some interface names already exist there.

use std::fs::File;
use std::path::Path;

use nix::errno::Errno;
use nix::net::if_::if_nametoindex;
use nix::sched::{setns, CloneFlags};

use crate::spec::CniError;

/// The names in `names` that already exist as links in the network namespace at `netns`.
///
/// Runs on a short-lived thread that enters the namespace, so the caller's thread never changes
/// namespace. Code 4 (naming `CNI_NETNS`) if the namespace cannot be opened or entered.
pub fn existing_links(netns: &Path, names: &[String]) -> Result<Vec<String>, CniError> {
    let file = File::open(netns).map_err(|e| {
        CniError::invalid_env("CNI_NETNS", format!("cannot open {}: {e}", netns.display()))
    })?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                CniError::invalid_env(
                    "CNI_NETNS",
                    format!("{} is not a network namespace: {e}", netns.display()),
                )
            })?;
            let mut found = Vec::new();
            for name in names {
                match if_nametoindex(name.as_str()) {
                    Ok(_) => found.push(name.clone()),
                    Err(Errno::ENODEV) => {}
                    Err(e) => {
                        return Err(CniError::io(
                            format!("cannot look up {name} in {}", netns.display()),
                            e,
                        ))
                    }
                }
            }
            Ok(found)
        })
        .join()
        .expect("the netns probe thread does not panic")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_loopback_in_our_own_namespace() {
        let names = vec!["lo".to_string(), "no-such-link0".to_string()];
        assert_eq!(
            existing_links(Path::new("/proc/self/ns/net"), &names).unwrap(),
            vec!["lo".to_string()]
        );
    }

    #[test]
    fn a_missing_or_wrong_namespace_is_code_4() {
        let err = existing_links(Path::new("/nonexistent/netns"), &[]).unwrap_err();
        assert_eq!(err.code, CniError::INVALID_ENV);
        assert!(
            err.msg
                .starts_with("CNI_NETNS: cannot open /nonexistent/netns"),
            "{}",
            err.msg
        );
        assert_eq!(
            existing_links(Path::new("/proc/self/ns/uts"), &[])
                .unwrap_err()
                .code,
            CniError::INVALID_ENV
        );
    }
}
