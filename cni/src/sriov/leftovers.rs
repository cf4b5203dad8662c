//! Temporary files a killed plugin left in the state directory. Atomic writes go through
//! `.<key>.<pid>.<n>.tmp` (see [`crate::cache::StateDir::write`]); a file whose writer no
//! longer runs will never be renamed into place and is removed by the next ADD, DEL or GC.

use std::fs;
use std::path::Path;

use crate::log::Logger;

use super::process::pid_exists;

/// The writer's pid in a temporary file's name, if `name` is one.
fn writer_of(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = inner.rsplitn(3, '.');
    let _seq: u64 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|key| !key.is_empty())?;
    Some(pid)
}

/// Removes the temporary files in `dir` whose writer is gone; problems go to `log`.
pub fn sweep(dir: &Path, log: &Logger) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = writer_of(&name.to_string_lossy()) else {
            continue;
        };
        if pid_exists(pid) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => log.debug(format!(
                "removed {}, left by a writer that died",
                entry.path().display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log.error(format!("cannot remove {}: {e}", entry.path().display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;

    #[test]
    fn removes_only_temporary_files_of_dead_writers() {
        assert_eq!(writer_of(".0000:05:10.0.123.7.tmp"), Some(123));
        assert_eq!(writer_of(".c1:net1.9.0.tmp"), Some(9));
        for not_tmp in ["c1:net1", ".x.tmp", "..1.2.tmp", ".a.b.c.tmp", "a.1.2.tmp"] {
            assert_eq!(writer_of(not_tmp), None, "{not_tmp}");
        }
        let dir = std::env::temp_dir().join(format!("sriov-leftovers-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mine = format!(".c1:net1.{}.0.tmp", std::process::id());
        let orphan = format!(".c2:net1.{dead}.3.tmp");
        for name in [mine.as_str(), orphan.as_str(), "c3:net1"] {
            fs::write(dir.join(name), "x").unwrap();
        }
        sweep(&dir, &Logger::new("sriov", Level::Error, None));
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![mine, "c3:net1".to_string()]);
        fs::remove_dir_all(dir).unwrap();
    }
}
