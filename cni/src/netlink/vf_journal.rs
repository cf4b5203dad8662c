//! A [`PfControl`] that appends each request to a JSON-lines file instead of sending it.
//!
//! For sysfs trees with no real PF behind them (the fake SR-IOV tree in tests, dry runs):
//! reads replay the file over [`VfConfig::default`], so the plugin sees its own writes
//! and a test can both pre-load "original" settings and assert exactly what was sent.
//! A VF netdev's own MAC change is made on the real link, but first judged as igb judges
//! igbvf's request: refused while the journal imposes an administrative MAC on an untrusted VF.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, MacAddr, Netlink, PfControl, VfConfig, VfSetting};

const EADDRNOTAVAIL: i32 = 99;

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// PF netdev name.
    pub pf: String,
    /// VF index.
    pub vf: u32,
    /// What was set.
    pub setting: VfSetting,
}

/// PF control backed by an append-only journal file.
#[derive(Debug, Clone)]
pub struct JournalPf {
    path: PathBuf,
}

impl JournalPf {
    /// Uses (and creates on first write) the journal at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JournalPf { path: path.into() }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every request recorded so far, oldest first.
    pub fn entries(&self) -> Result<Vec<JournalEntry>, Error> {
        let what = || format!("read VF journal {}", self.path.display());
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Kernel(what(), e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| Error::Malformed(format!("{}: {e}", what())))
            })
            .collect()
    }

    /// Records `setting` for `pf`/`vf` as if it had been sent.
    pub fn record(&self, pf: &str, vf: u32, setting: &VfSetting) -> Result<(), Error> {
        let entry = JournalEntry {
            pf: pf.to_string(),
            vf,
            setting: *setting,
        };
        let mut line =
            serde_json::to_string(&entry).map_err(|e| Error::Malformed(e.to_string()))?;
        line.push('\n');
        let what = || format!("append to VF journal {}", self.path.display());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::Kernel(what(), e))?;
        // One write of the whole line: O_APPEND keeps concurrent writers' lines whole.
        file.write_all(line.as_bytes())
            .map_err(|e| Error::Kernel(what(), e))
    }
}

impl PfControl for JournalPf {
    fn vf_config(&self, pf: &str, vf: u32) -> Result<VfConfig, Error> {
        let mut cfg = VfConfig::default();
        for entry in self.entries()?.iter().filter(|e| e.pf == pf && e.vf == vf) {
            cfg.apply(&entry.setting);
        }
        Ok(cfg)
    }

    fn set_vf(&self, pf: &str, vf: u32, setting: &VfSetting) -> Result<(), Error> {
        self.record(pf, vf, setting)
    }

    fn set_netdev_mac(&self, pf: &str, vf: u32, link: u32, mac: MacAddr) -> Result<(), Error> {
        let imposed = self.vf_config(pf, vf)?;
        let mut nl = Netlink::open()?;
        let unchanged = nl.link_by_index(link)?.is_some_and(|l| l.mac == Some(mac));
        if imposed.mac != MacAddr::ZERO && !imposed.trust && !unchanged {
            // igb logs "VF N attempted to override administratively set MAC address".
            return Err(Error::Kernel(
                format!("set MAC of link #{link} to {mac}"),
                io::Error::from_raw_os_error(EADDRNOTAVAIL),
            ));
        }
        nl.set_mac(link, mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{LinkState, VlanProto};

    #[test]
    fn replays_writes_per_vf() {
        let dir = std::env::temp_dir().join(format!("vf-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pf = JournalPf::new(dir.join("journal"));
        pf.set_vf(
            "pf0",
            1,
            &VfSetting::Vlan {
                vlan: 210,
                qos: 2,
                proto: VlanProto::Dot1Q,
            },
        )
        .unwrap();
        pf.set_vf(
            "pf0",
            2,
            &VfSetting::LinkState {
                state: LinkState::Disable,
            },
        )
        .unwrap();
        pf.set_vf("pf0", 1, &VfSetting::Trust { on: true }).unwrap();

        let vf1 = pf.vf_config("pf0", 1).unwrap();
        assert_eq!((vf1.vlan, vf1.qos, vf1.trust), (210, 2, true));
        assert_eq!(vf1.link_state, LinkState::Auto);
        assert_eq!(
            pf.vf_config("pf0", 2).unwrap().link_state,
            LinkState::Disable
        );
        assert_eq!(pf.vf_config("pf1", 1).unwrap(), VfConfig::default());
        assert_eq!(pf.entries().unwrap().len(), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
