//! What the benches' integration tests share: the programs of other crates that a benches binary runs,
//! built beside it.

use std::path::Path;
use std::process::Command;

/// Builds `bins` (package, binary) into the target directory and profile of `binary` (a benches binary
/// from `CARGO_BIN_EXE_*`), where the binary looks for them.
pub fn build_beside(binary: &Path, bins: &[(&str, &str)]) {
    let profile_dir = binary.parent().unwrap();
    let target = profile_dir.parent().unwrap();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("build");
    for (package, bin) in bins {
        cmd.args(["-p", package, "--bin", bin]);
    }
    cmd.arg("--target-dir").arg(target);
    if profile_dir.file_name().unwrap() == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "building {bins:?} failed");
}
