//! The PCI / SR-IOV part of sysfs, rooted at a configurable directory (`/sys` on a host, a
//! fake tree in tests).
//!
//! Only the kernel ABI files are used: `bus/pci/devices/<addr>/{sriov_numvfs, virtfnN,
//! physfn, net/, driver, driver_override, iommu_group}`, `class/net/<ifname>/device`,
//! `bus/pci/drivers/<name>/{bind,unbind}` and `bus/pci/drivers_probe`.

mod driver;
mod pci_addr;
mod sriov;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use driver::DriverBinding;
pub use pci_addr::PciAddr;
pub use sriov::Vf;

/// A sysfs file or link that could not be read or written.
#[derive(Debug)]
pub struct Error {
    /// What was being done.
    pub what: String,
    /// The file involved.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

impl Error {
    fn at(what: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        let path = path.to_path_buf();
        move |source| Error { what, path, source }
    }

    /// Whether the file or link does not exist.
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} ({}): {}",
            self.what,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for Error {}

/// A view of sysfs under `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs::new("/sys")
    }
}

impl Sysfs {
    /// A view rooted at `root` (the directory that plays `/sys`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `bus/pci/devices/<addr>`.
    pub fn pci_device(&self, addr: &PciAddr) -> PathBuf {
        self.root.join("bus/pci/devices").join(addr.as_str())
    }

    /// `bus/pci/drivers/<name>`.
    pub fn pci_driver(&self, name: &str) -> PathBuf {
        self.root.join("bus/pci/drivers").join(name)
    }

    /// `class/net/<ifname>`.
    pub fn netdev(&self, ifname: &str) -> PathBuf {
        self.root.join("class/net").join(ifname)
    }

    /// Whether a PCI device with this address exists.
    pub fn has_pci_device(&self, addr: &PciAddr) -> bool {
        self.pci_device(addr).is_dir()
    }

    /// The PCI address of the device behind network interface `ifname`.
    pub fn netdev_pci_addr(&self, ifname: &str) -> Result<PciAddr, Error> {
        let link = self.netdev(ifname).join("device");
        link_target_name(&link, "find the PCI device of a network interface")?
            .parse()
            .map_err(|e| {
                Error::at("parse a PCI address", &link)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    e,
                ))
            })
    }

    /// The network interface names of PCI device `addr` (its `net/` directory), sorted.
    pub fn netdev_names(&self, addr: &PciAddr) -> Result<Vec<String>, Error> {
        let dir = self.pci_device(addr).join("net");
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                Ok(names)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::at("list network interfaces", &dir)(e)),
        }
    }

    /// The IOMMU group of PCI device `addr`, if it has one.
    pub fn iommu_group(&self, addr: &PciAddr) -> Result<Option<String>, Error> {
        optional_link_name(
            &self.pci_device(addr).join("iommu_group"),
            "read the IOMMU group",
        )
    }
}

/// The last path component of the symlink `link`'s target.
fn link_target_name(link: &Path, what: &str) -> Result<String, Error> {
    let target = std::fs::read_link(link).map_err(Error::at(what, link))?;
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::at(what, link)(io::Error::new(
                io::ErrorKind::InvalidData,
                "link has no target name",
            ))
        })
}

/// Like [`link_target_name`], `None` when the link does not exist.
fn optional_link_name(link: &Path, what: &str) -> Result<Option<String>, Error> {
    match link_target_name(link, what) {
        Ok(name) => Ok(Some(name)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The trimmed content of a small attribute file.
fn read_attr(path: &Path, what: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(Error::at(what, path))
}

/// Writes `value` to an attribute file that must already exist (sysfs never creates files).
fn write_attr(path: &Path, value: &str, what: &str) -> Result<(), Error> {
    use std::io::Write;
    // Truncating is what a shell's `echo x > file` does; sysfs ignores it, plain files need it.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(Error::at(what, path))?;
    file.write_all(value.as_bytes())
        .map_err(Error::at(what, path))
}
