//! Driver binding through `driver_override` + `unbind` + `drivers_probe`, as the kernel
//! documents for handing a device to vfio-pci and back.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{read_attr, write_attr, Error, PciAddr, Sysfs};

/// How long a probe may take to show up in the `driver` link (drivers may probe asynchronously).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A device's driver binding: what to record before rebinding and restore after.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DriverBinding {
    /// The bound driver, `None` when unbound.
    pub driver: Option<String>,
    /// The `driver_override`, `None` when unset.
    pub driver_override: Option<String>,
}

impl Sysfs {
    /// The driver bound to `addr`, if any.
    pub fn driver(&self, addr: &PciAddr) -> Result<Option<String>, Error> {
        self.driver_name(addr)
    }

    /// The current binding of `addr`.
    pub fn binding(&self, addr: &PciAddr) -> Result<DriverBinding, Error> {
        let path = self.pci_device(addr).join("driver_override");
        let value = read_attr(&path, "read driver_override")?;
        let driver_override = (!value.is_empty() && value != "(null)").then_some(value);
        Ok(DriverBinding {
            driver: self.driver(addr)?,
            driver_override,
        })
    }

    /// Whether a PCI driver called `name` is registered (its module is loaded).
    pub fn has_pci_driver(&self, name: &str) -> bool {
        self.pci_driver(name).is_dir()
    }

    /// Binds `addr` to `driver`: override, unbind from the current driver, reprobe, verify.
    /// Leaves `driver_override` set to `driver`. Does nothing if already bound to `driver`.
    pub fn bind_driver(&self, addr: &PciAddr, driver: &str) -> Result<(), Error> {
        if self.driver(addr)?.as_deref() == Some(driver) {
            return Ok(());
        }
        let dev = self.pci_device(addr);
        write_attr(&dev.join("driver_override"), driver, "set driver_override")?;
        self.unbind(addr)?;
        write_attr(
            &self.root.join("bus/pci/drivers_probe"),
            addr.as_str(),
            "probe drivers",
        )?;
        self.wait_for_driver(addr, Some(driver))
    }

    /// Unbinds `addr` from its driver, if it has one.
    pub fn unbind(&self, addr: &PciAddr) -> Result<(), Error> {
        let Some(current) = self.driver(addr)? else {
            return Ok(());
        };
        write_attr(
            &self.pci_driver(&current).join("unbind"),
            addr.as_str(),
            "unbind the driver",
        )?;
        self.wait_for_driver(addr, None)
    }

    /// Puts `addr` back the way `original` describes: its driver (or none) and its override.
    pub fn restore_binding(&self, addr: &PciAddr, original: &DriverBinding) -> Result<(), Error> {
        match &original.driver {
            Some(driver) => self.bind_driver(addr, driver)?,
            None => self.unbind(addr)?,
        }
        let value = original.driver_override.as_deref().unwrap_or("\n");
        write_attr(
            &self.pci_device(addr).join("driver_override"),
            value,
            "restore driver_override",
        )
    }

    fn wait_for_driver(&self, addr: &PciAddr, want: Option<&str>) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let now = self.driver(addr)?;
            if now.as_deref() == want {
                return Ok(());
            }
            if start.elapsed() > PROBE_TIMEOUT {
                let problem = match want {
                    Some(d) => format!("device is bound to {now:?} after probing, not {d:?}"),
                    None => format!("device is still bound to {now:?} after unbind"),
                };
                let path = self.pci_device(addr).join("driver");
                return Err(Error::at("bind the driver", &path)(std::io::Error::other(
                    problem,
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
