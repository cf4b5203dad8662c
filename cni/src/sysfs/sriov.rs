//! SR-IOV topology: a PF's VFs (`sriov_numvfs`, `virtfnN`) and a VF's PF (`physfn`).

use super::{optional_link_name, read_attr, Error, PciAddr, Sysfs};

/// One virtual function of a PF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vf {
    /// VF index on its PF (the N of `virtfnN`, the `vf N` of `ip link`).
    pub index: u32,
    /// PCI address of the VF.
    pub addr: PciAddr,
}

impl Sysfs {
    /// Whether `addr` is an SR-IOV capable PF (it has `sriov_totalvfs`).
    pub fn is_sriov_pf(&self, addr: &PciAddr) -> bool {
        self.pci_device(addr).join("sriov_totalvfs").is_file()
    }

    /// The number of VFs currently enabled on PF `pf` (`sriov_numvfs`).
    pub fn num_vfs(&self, pf: &PciAddr) -> Result<u32, Error> {
        let path = self.pci_device(pf).join("sriov_numvfs");
        let text = read_attr(&path, "read the number of VFs")?;
        text.parse().map_err(|_| {
            Error::at("parse the number of VFs", &path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{text:?} is not a number"),
            ))
        })
    }

    /// VF `index` of PF `pf`, if that VF exists.
    pub fn vf(&self, pf: &PciAddr, index: u32) -> Result<Option<Vf>, Error> {
        let link = self.pci_device(pf).join(format!("virtfn{index}"));
        let Some(name) = optional_link_name(&link, "read a VF link")? else {
            return Ok(None);
        };
        let addr = name.parse().map_err(|e: String| {
            Error::at("parse a VF address", &link)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e,
            ))
        })?;
        Ok(Some(Vf { index, addr }))
    }

    /// Every enabled VF of PF `pf`, by index.
    pub fn vfs(&self, pf: &PciAddr) -> Result<Vec<Vf>, Error> {
        let mut out = Vec::new();
        for index in 0..self.num_vfs(pf)? {
            out.extend(self.vf(pf, index)?);
        }
        Ok(out)
    }

    /// The PF of VF `vf` (its `physfn` link), or `None` if `vf` is not a VF.
    pub fn physfn(&self, vf: &PciAddr) -> Result<Option<PciAddr>, Error> {
        let link = self.pci_device(vf).join("physfn");
        match optional_link_name(&link, "read the PF link")? {
            None => Ok(None),
            Some(name) => name.parse().map(Some).map_err(|e: String| {
                Error::at("parse the PF address", &link)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e,
                ))
            }),
        }
    }

    /// The index of VF `vf` on PF `pf`.
    pub fn vf_index(&self, pf: &PciAddr, vf: &PciAddr) -> Result<Option<u32>, Error> {
        Ok(self
            .vfs(pf)?
            .into_iter()
            .find(|v| v.addr == *vf)
            .map(|v| v.index))
    }

    /// The driver name a PCI device's `driver` link points to (used for PFs and VFs alike).
    pub(super) fn driver_name(&self, addr: &PciAddr) -> Result<Option<String>, Error> {
        optional_link_name(
            &self.pci_device(addr).join("driver"),
            "read the driver link",
        )
    }
}
