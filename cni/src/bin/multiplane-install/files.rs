//! Files on the host appear whole or not at all: everything is written to a temporary file in the
//! target's directory, synced, given its mode, and renamed over the target. A runtime that execs a
//! plugin or reads a config at that moment sees the old file or the new one, never a partial one, and
//! replacing a binary that is running cannot fail with "text file busy".

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A temporary name beside `target`: hidden, unique to this process and moment, and ending in
/// `.tmp` so that no CNI runtime takes it for a config (`.conf`, `.conflist`, `.json`).
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    target.with_file_name(format!(".{name}.{}-{nanos}.tmp", std::process::id()))
}

/// Makes `target` hold what `fill` writes, with `mode`, atomically. On failure the target is
/// untouched and the temporary file is gone.
fn replace_with(
    target: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(target);
    let result = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        fill(&mut file)?;
        // The mode given at creation is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, target)?;
        if let Some(dir) = target.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", target.display())))
}

/// Writes `content` to `target` atomically with `mode`.
pub fn write(target: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    replace_with(target, mode, |file| file.write_all(content))
}

/// Copies `source` to `target` atomically with mode 0755 (an executable plugin).
pub fn install_executable(source: &Path, target: &Path) -> io::Result<()> {
    let mut input = File::open(source)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
    replace_with(target, 0o755, |file| io::copy(&mut input, file).map(drop))
}

/// The content of `path`, `None` if it does not exist.
pub fn read_if_present(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut content = Vec::new();
    match File::open(path) {
        Ok(mut file) => file.read_to_end(&mut content).map(|_| Some(content)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Removes `path`; true if it existed.
pub fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mpi-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn write_replaces_content_and_mode_and_leaves_no_temp_file() {
        let dir = scratch("write");
        let target = dir.join("00-multus.conf");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o666)).unwrap();
        write(&target, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["00-multus.conf"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_copy_names_the_source_and_keeps_the_target() {
        let dir = scratch("copy");
        let target = dir.join("multus");
        fs::write(&target, b"old").unwrap();
        let e = install_executable(&dir.join("absent"), &target).unwrap_err();
        assert!(e.to_string().contains("absent"), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_are_not_cni_configs() {
        let temp = temp_path(Path::new("/etc/cni/net.d/00-multus.conf"));
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".00-multus.conf.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(temp.parent(), Some(Path::new("/etc/cni/net.d")));
    }
}
