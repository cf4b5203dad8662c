//! `multus-shim`: the CNI binary of the thick plugin (`"type": "multus-shim"`); forwards each call to
//! `multus-daemon` (see `cni::multus::thick`).

fn main() -> std::process::ExitCode {
    cni::multus::thick::shim::run()
}
