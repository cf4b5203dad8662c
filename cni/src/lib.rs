//! CNI plugins (`multus`, `sriov`) and the helpers they share.

pub mod cache;
pub mod invoke;
pub mod k8s;
pub mod log;
pub mod multus;
pub mod netlink;
pub mod netns;
mod serde_text;
pub mod spec;
pub mod sriov;
pub mod sysfs;
