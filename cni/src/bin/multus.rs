//! The `multus` CNI plugin binary (`"type": "multus"`).

fn main() -> std::process::ExitCode {
    cni::spec::run_plugin(&cni::multus::Multus)
}
