//! CNI specification 1.1 types shared by the plugins: configurations, versions, results, errors, the
//! `CNI_*` environment, and the [`run_plugin`] dispatcher that is a plugin binary's whole `main`.
//!
//! # Writing a plugin binary
//!
//! Implement [`Plugin`] (ADD, DEL and CHECK are required; STATUS and GC default to "ready" and "nothing
//! to collect") and hand it to [`run_plugin`]:
//!
//! ```no_run
//! use cni::spec::{run_plugin, Call, CniError, CniResult, Plugin};
//!
//! struct Noop;
//!
//! impl Plugin for Noop {
//!     fn add(&self, call: &Call) -> Result<CniResult, CniError> {
//!         let _netns = call.env.netns()?; // CNI_NETNS, already checked present for ADD and CHECK
//!         Ok(CniResult::new(call.conf.cni_version))
//!     }
//!     fn del(&self, _call: &Call) -> Result<(), CniError> {
//!         Ok(()) // DEL must succeed when there is nothing to remove
//!     }
//!     fn check(&self, call: &Call) -> Result<(), CniError> {
//!         call.conf.prev_result()?; // compare the live state with what ADD reported
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     run_plugin(&Noop)
//! }
//! ```
//!
//! The dispatcher validates the environment (code 4 naming the variable), parses stdin into
//! [`NetConf`] (code 6 if it is not JSON, code 7 naming the field, code 1 for an unknown `cniVersion`),
//! answers VERSION itself with all five versions, refuses commands the configuration's version does
//! not define (CHECK before 0.4.0, STATUS/GC before 1.1.0), converts ADD's result to the requested
//! version, and prints errors as CNI error JSON with exit status 1.
//!
//! Inside a method: plugin-specific fields come from [`NetConf::deserialize`] into the plugin's own
//! serde type (errors name the field); `prevResult` from [`NetConf::prev_result`]; GC's list from
//! [`NetConf::valid_attachments`]; `CNI_ARGS` keys from [`Env::arg`]. IPAM is delegated with
//! [`crate::invoke::ipam`].

mod cidr;
mod config;
mod dispatch;
mod env;
mod error;
mod result;
mod version;

pub use cidr::Cidr;
pub use config::{
    conf_files, field_path, optional_str, parse_object, required_str, Attachment, ConfList, NetConf,
    VALID_ATTACHMENTS,
};
pub use dispatch::{dispatch, run_plugin, Call, Outcome, Plugin};
pub use env::{parse_args, validate_ifname, Command, Env};
pub use error::CniError;
pub use result::{CniResult, Dns, Interface, IpConfig, Route};
pub use version::{version_info_json, Version};
