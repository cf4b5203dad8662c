//! Per-VF settings held by a PF (`ip link set PF vf N ...`): read them from
//! `IFLA_VFINFO_LIST`, change them one `IFLA_VF_*` attribute at a time.

use std::fmt;

use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac,
    VfInfoRate, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan, VfVlanInfo,
    VlanProtocol,
};
use netlink_packet_route::RouteNetlinkMessage;
use serde::{Deserialize, Serialize};

use super::{Error, MacAddr, Netlink};

/// VLAN tag protocol for a VF's port VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VlanProto {
    /// Customer VLAN tag (0x8100).
    #[default]
    #[serde(rename = "802.1Q")]
    Dot1Q,
    /// Service VLAN tag, QinQ (0x88a8).
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

/// Administrative link state the PF forces on a VF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Follow the PF's link.
    #[default]
    Auto,
    /// Always up.
    Enable,
    /// Always down.
    Disable,
}

/// The settings a PF reports for one VF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfConfig {
    /// Administrative MAC (zero when unset).
    pub mac: MacAddr,
    /// Port VLAN (0 = none).
    pub vlan: u16,
    /// 802.1p priority of the port VLAN.
    pub qos: u8,
    /// Tag protocol of the port VLAN.
    pub proto: VlanProto,
    /// MAC spoof checking.
    pub spoofchk: bool,
    /// Trusted mode (may change MAC, enter promiscuous mode).
    pub trust: bool,
    /// Forced link state.
    pub link_state: LinkState,
    /// Minimum TX rate in Mbps (0 = none).
    pub min_tx_rate: u32,
    /// Maximum TX rate in Mbps (0 = unlimited).
    pub max_tx_rate: u32,
}

impl Default for VfConfig {
    /// What a freshly created VF reports on common drivers.
    fn default() -> Self {
        VfConfig {
            mac: MacAddr::ZERO,
            vlan: 0,
            qos: 0,
            proto: VlanProto::Dot1Q,
            spoofchk: true,
            trust: false,
            link_state: LinkState::Auto,
            min_tx_rate: 0,
            max_tx_rate: 0,
        }
    }
}

impl VfConfig {
    /// Updates this record as the kernel would after `setting` succeeded.
    pub fn apply(&mut self, setting: &VfSetting) {
        match *setting {
            VfSetting::Mac { mac } => self.mac = mac,
            VfSetting::Vlan { vlan, qos, proto } => {
                (self.vlan, self.qos, self.proto) = (vlan, qos, proto)
            }
            VfSetting::SpoofCheck { on } => self.spoofchk = on,
            VfSetting::Trust { on } => self.trust = on,
            VfSetting::LinkState { state } => self.link_state = state,
            VfSetting::Rate { min, max } => (self.min_tx_rate, self.max_tx_rate) = (min, max),
        }
    }

    /// The one setting that brings the field `setting` changes back to its value here.
    pub fn undo_of(&self, setting: &VfSetting) -> VfSetting {
        match setting {
            VfSetting::Mac { .. } => VfSetting::Mac { mac: self.mac },
            VfSetting::Vlan { .. } => VfSetting::Vlan {
                vlan: self.vlan,
                qos: self.qos,
                proto: self.proto,
            },
            VfSetting::SpoofCheck { .. } => VfSetting::SpoofCheck { on: self.spoofchk },
            VfSetting::Trust { .. } => VfSetting::Trust { on: self.trust },
            VfSetting::LinkState { .. } => VfSetting::LinkState {
                state: self.link_state,
            },
            VfSetting::Rate { .. } => VfSetting::Rate {
                min: self.min_tx_rate,
                max: self.max_tx_rate,
            },
        }
    }

    /// Whether the field `setting` changes already holds the value it would set.
    pub fn has(&self, setting: &VfSetting) -> bool {
        let mut after = self.clone();
        after.apply(setting);
        after == *self
    }
}

/// One change to one VF, as sent to the PF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "set", rename_all = "snake_case")]
pub enum VfSetting {
    /// Administrative MAC (`IFLA_VF_MAC`).
    Mac {
        /// The address.
        mac: MacAddr,
    },
    /// Port VLAN (`IFLA_VF_VLAN`, or `IFLA_VF_VLAN_LIST` for 802.1ad).
    Vlan {
        /// VLAN id, 0 removes the port VLAN.
        vlan: u16,
        /// 802.1p priority.
        qos: u8,
        /// Tag protocol.
        proto: VlanProto,
    },
    /// MAC spoof checking (`IFLA_VF_SPOOFCHK`).
    SpoofCheck {
        /// Enabled.
        on: bool,
    },
    /// Trusted mode (`IFLA_VF_TRUST`).
    Trust {
        /// Enabled.
        on: bool,
    },
    /// Forced link state (`IFLA_VF_LINK_STATE`).
    LinkState {
        /// The state.
        state: LinkState,
    },
    /// TX rate limits in Mbps (`IFLA_VF_RATE`).
    Rate {
        /// Guaranteed minimum.
        min: u32,
        /// Ceiling, 0 = unlimited.
        max: u32,
    },
}

impl fmt::Display for VfSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VfSetting::Mac { mac } => write!(f, "mac {mac}"),
            VfSetting::Vlan { vlan, qos, proto } => {
                write!(f, "vlan {vlan} qos {qos} proto {proto:?}")
            }
            VfSetting::SpoofCheck { on } => write!(f, "spoofchk {}", on_off(*on)),
            VfSetting::Trust { on } => write!(f, "trust {}", on_off(*on)),
            VfSetting::LinkState { state } => write!(f, "link_state {state:?}"),
            VfSetting::Rate { min, max } => write!(f, "min_tx_rate {min} max_tx_rate {max}"),
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// The seam through which VF settings reach a PF.
pub trait PfControl: Send + Sync {
    /// The current settings of VF `vf` on the PF netdev `pf`.
    fn vf_config(&self, pf: &str, vf: u32) -> Result<VfConfig, Error>;
    /// Applies one setting to VF `vf` on the PF netdev `pf`.
    fn set_vf(&self, pf: &str, vf: u32, setting: &VfSetting) -> Result<(), Error>;
    /// Sets the MAC of the VF's own netdev, link `link` in the caller's namespace. The VF
    /// driver relays the change to the PF, which may refuse it: igb refuses any change while
    /// it imposes an administrative MAC on an untrusted VF (igbvf: EADDRNOTAVAIL).
    fn set_netdev_mac(&self, pf: &str, vf: u32, link: u32, mac: MacAddr) -> Result<(), Error>;
}

/// [`PfControl`] over rtnetlink in the caller's namespace: the real thing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NetlinkPf;

impl NetlinkPf {
    fn pf_index(nl: &mut Netlink, pf: &str) -> Result<u32, Error> {
        match nl.link_by_name(pf)? {
            Some(link) => Ok(link.index),
            None => Err(Error::Kernel(
                format!("look up PF {pf}"),
                std::io::Error::from_raw_os_error(19),
            )),
        }
    }
}

impl PfControl for NetlinkPf {
    fn vf_config(&self, pf: &str, vf: u32) -> Result<VfConfig, Error> {
        let mut nl = Netlink::open()?;
        let mut query = LinkMessage::default();
        query.header.index = Self::pf_index(&mut nl, pf)?;
        query
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        let what = || format!("read VF {vf} settings of PF {pf}");
        let RouteNetlinkMessage::NewLink(reply) =
            nl.get(RouteNetlinkMessage::GetLink(query), what)?
        else {
            return Err(Error::Malformed(what()));
        };
        let infos = reply.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::VfInfoList(list) => Some(list),
            _ => None,
        });
        infos
            .into_iter()
            .flatten()
            .find_map(|info| vf_config_of(&info, vf))
            .ok_or_else(|| Error::Kernel(what(), std::io::Error::from_raw_os_error(2)))
    }

    fn set_vf(&self, pf: &str, vf: u32, setting: &VfSetting) -> Result<(), Error> {
        let mut nl = Netlink::open()?;
        let index = Self::pf_index(&mut nl, pf)?;
        let info = vf_info_of(vf, setting);
        nl.set_link(
            index,
            |m| {
                m.attributes
                    .push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![info])]))
            },
            || format!("set VF {vf} {setting} on PF {pf}"),
        )
    }

    fn set_netdev_mac(&self, _pf: &str, _vf: u32, link: u32, mac: MacAddr) -> Result<(), Error> {
        // The VF driver and the PF driver settle it inside the kernel.
        Netlink::open()?.set_mac(link, mac)
    }
}

fn vf_info_of(vf: u32, setting: &VfSetting) -> VfInfo {
    match *setting {
        VfSetting::Mac { mac } => VfInfo::Mac(VfInfoMac::new(vf, &mac.0)),
        VfSetting::Vlan {
            vlan,
            qos,
            proto: VlanProto::Dot1Q,
        } => VfInfo::Vlan(VfInfoVlan::new(vf, vlan.into(), qos.into())),
        VfSetting::Vlan {
            vlan,
            qos,
            proto: VlanProto::Dot1Ad,
        } => VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
            vf,
            vlan.into(),
            qos.into(),
            VlanProtocol::Ieee8021Ad,
        ))]),
        VfSetting::SpoofCheck { on } => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, on)),
        VfSetting::Trust { on } => VfInfo::Trust(VfInfoTrust::new(vf, on)),
        VfSetting::LinkState { state } => VfInfo::LinkState(VfInfoLinkState::new(
            vf,
            match state {
                LinkState::Auto => VfLinkState::Auto,
                LinkState::Enable => VfLinkState::Enable,
                LinkState::Disable => VfLinkState::Disable,
            },
        )),
        VfSetting::Rate { min, max } => VfInfo::Rate(VfInfoRate::new(vf, min, max)),
    }
}

/// Decodes one `IFLA_VF_INFO` entry if it describes VF `vf`.
fn vf_config_of(info: &LinkVfInfo, vf: u32) -> Option<VfConfig> {
    let mut cfg = VfConfig::default();
    let mut found = false;
    for attr in &info.0 {
        match attr {
            VfInfo::Mac(m) if m.vf_id == vf => {
                found = true;
                cfg.mac = MacAddr::from_slice(&m.mac).unwrap_or(MacAddr::ZERO);
            }
            VfInfo::Vlan(v) if v.vf_id == vf => {
                cfg.vlan = v.vlan_id as u16;
                cfg.qos = v.qos as u8;
            }
            VfInfo::VlanList(list) => {
                let qinq = |v: &VfVlan| matches!(v, VfVlan::Info(i) if i.vf_id == vf && i.protocol == VlanProtocol::Ieee8021Ad);
                if list.iter().any(qinq) {
                    cfg.proto = VlanProto::Dot1Ad;
                }
            }
            VfInfo::SpoofCheck(s) if s.vf_id == vf => cfg.spoofchk = s.enabled,
            VfInfo::Trust(t) if t.vf_id == vf => cfg.trust = t.enabled,
            VfInfo::LinkState(l) if l.vf_id == vf => {
                cfg.link_state = match l.state {
                    VfLinkState::Enable => LinkState::Enable,
                    VfLinkState::Disable => LinkState::Disable,
                    _ => LinkState::Auto,
                }
            }
            VfInfo::Rate(r) if r.vf_id == vf => {
                (cfg.min_tx_rate, cfg.max_tx_rate) = (r.min_tx_rate, r.max_tx_rate)
            }
            _ => {}
        }
    }
    found.then_some(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_restores_the_changed_field_only() {
        let original = VfConfig {
            vlan: 5,
            trust: true,
            ..VfConfig::default()
        };
        let change = VfSetting::Vlan {
            vlan: 210,
            qos: 3,
            proto: VlanProto::Dot1Ad,
        };
        let mut live = original.clone();
        live.apply(&change);
        assert_eq!(
            (live.vlan, live.qos, live.proto),
            (210, 3, VlanProto::Dot1Ad)
        );
        assert!(!original.has(&change));
        live.apply(&original.undo_of(&change));
        assert_eq!(live, original);
    }

    #[test]
    fn decodes_the_requested_vf_from_a_kernel_style_entry() {
        let entry = LinkVfInfo(vec![
            VfInfo::Mac(VfInfoMac::new(3, &[2, 0, 0, 0, 0, 9])),
            VfInfo::Vlan(VfInfoVlan::new(3, 210, 1)),
            VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
                3,
                210,
                1,
                VlanProtocol::Ieee8021Q,
            ))]),
            VfInfo::SpoofCheck(VfInfoSpoofCheck::new(3, false)),
            VfInfo::Trust(VfInfoTrust::new(3, true)),
            VfInfo::LinkState(VfInfoLinkState::new(3, VfLinkState::Disable)),
            VfInfo::Rate(VfInfoRate::new(3, 10, 100)),
        ]);
        assert_eq!(vf_config_of(&entry, 2), None);
        let cfg = vf_config_of(&entry, 3).unwrap();
        assert_eq!(
            cfg,
            VfConfig {
                mac: "02:00:00:00:00:09".parse().unwrap(),
                vlan: 210,
                qos: 1,
                proto: VlanProto::Dot1Q,
                spoofchk: false,
                trust: true,
                link_state: LinkState::Disable,
                min_tx_rate: 10,
                max_tx_rate: 100,
            }
        );
    }

    #[test]
    fn qinq_vlan_goes_in_a_vlan_list() {
        let info = vf_info_of(
            1,
            &VfSetting::Vlan {
                vlan: 7,
                qos: 0,
                proto: VlanProto::Dot1Ad,
            },
        );
        assert!(matches!(info, VfInfo::VlanList(ref l) if l.len() == 1));
        let info = vf_info_of(
            1,
            &VfSetting::Vlan {
                vlan: 7,
                qos: 0,
                proto: VlanProto::Dot1Q,
            },
        );
        assert!(matches!(info, VfInfo::Vlan(v) if v.vlan_id == 7 && v.vf_id == 1));
    }
}
