//! The `sriov` network configuration in both accepted forms, validated into [`SriovConf`].
//!
//! Modern form: `deviceID` (VF PCI address), `vlan`, `vlanQoS`, `vlanProto`, `mac`, `spoofchk`,
//! `trust`, `link_state`, `min_tx_rate`, `max_tx_rate`, `ipam`, `logLevel`, `logFile`,
//! `dpdkDriver`. The seed's form: `if0` (PF netdev), `if0name`, `vf`, `vlan`, `l2enable`,
//! `dpdk: {kernel_driver, dpdk_driver, dpdk_tool}`. The MAC may also come from
//! `runtimeConfig.mac` or `CNI_ARGS` `MAC=`; the NPWG device-info path from
//! `runtimeConfig.CNIDeviceInfoFile` or `CNI_ARGS` `CNIDeviceInfoFile=`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::log::{Level, Logger};
use crate::netlink::{LinkState, MacAddr, VfSetting, VlanProto};
use crate::spec::{validate_ifname, Call, CniError};
use crate::sysfs::PciAddr;

/// Default `logLevel`: sriov-cni's default, `info` (which is [`Level::Verbose`]).
pub const DEFAULT_LOG_LEVEL: Level = Level::Verbose;

/// How the VF is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSel {
    /// A VF by PCI address (`deviceID`, injected by Multus from the device plugin). A
    /// seed-form configuration may also carry `if0`/`vf`; they must then agree with it.
    Pci {
        /// The VF's PCI address.
        addr: PciAddr,
        /// The PF netdev it must belong to (`if0`).
        pf: Option<String>,
        /// The index it must have (`vf`).
        vf: Option<u32>,
    },
    /// A VF of the PF netdev `pf` (`if0`): index `vf`, or the first free one.
    Pf {
        /// PF network interface name.
        pf: String,
        /// VF index, `None` for the first free VF.
        vf: Option<u32>,
    },
}

/// DPDK mode: the userspace driver to bind, and the kernel driver to return to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConf {
    /// Driver to bind the VF to (`vfio-pci`, `igb_uio`, ...).
    pub driver: String,
    /// Kernel driver to bind on DEL when the VF had none before ADD.
    pub kernel_driver: Option<String>,
}

/// A validated `sriov` configuration with the runtime's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SriovConf {
    /// Which VF.
    pub device: DeviceSel,
    /// Pod interface name overriding `CNI_IFNAME` (`if0name`).
    pub if0name: Option<String>,
    /// Port VLAN id, QoS and protocol; `None` leaves the VLAN alone.
    pub vlan: Option<(u16, u8, VlanProto)>,
    /// MAC for the VF (config, then `runtimeConfig.mac`, then `CNI_ARGS` `MAC`, last wins).
    pub mac: Option<MacAddr>,
    /// Spoof checking.
    pub spoofchk: Option<bool>,
    /// Trusted mode.
    pub trust: Option<bool>,
    /// Forced link state.
    pub link_state: Option<LinkState>,
    /// TX rate limits (min, max) in Mbps.
    pub tx_rate: Option<(u32, u32)>,
    /// Whether IPAM runs (an `ipam` section and no `l2enable`).
    pub ipam: bool,
    /// DPDK mode settings, when asked for by configuration.
    pub dpdk: Option<DpdkConf>,
    /// Where `logLevel`/`logFile` send diagnostics.
    pub log: Logger,
    /// NPWG device-info file to write.
    pub device_info_file: Option<PathBuf>,
}

/// A boolean the seed wrote as a string and others as JSON booleans; or `on`/`off`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn get(self, field: &str) -> Result<bool, CniError> {
        match self {
            Flag::Bool(b) => Ok(b),
            Flag::Text(t) => match t.to_ascii_lowercase().as_str() {
                "on" | "true" => Ok(true),
                "off" | "false" => Ok(false),
                _ => Err(CniError::invalid_config(
                    field,
                    format!("{t:?} is not on/off"),
                )),
            },
        }
    }
}

#[derive(Deserialize)]
struct RawDpdk {
    kernel_driver: Option<String>,
    dpdk_driver: Option<String>,
    #[allow(dead_code)] // accepted for the seed's configs; binding is done in-process
    dpdk_tool: Option<String>,
}

#[derive(Deserialize)]
struct RawRuntime {
    mac: Option<String>,
    #[serde(rename = "CNIDeviceInfoFile")]
    device_info_file: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "deviceID")]
    device_id: Option<String>,
    if0: Option<String>,
    if0name: Option<String>,
    vf: Option<i64>,
    vlan: Option<i64>,
    #[serde(rename = "vlanQoS")]
    vlan_qos: Option<i64>,
    #[serde(rename = "vlanProto")]
    vlan_proto: Option<String>,
    mac: Option<String>,
    spoofchk: Option<Flag>,
    trust: Option<Flag>,
    link_state: Option<String>,
    min_tx_rate: Option<i64>,
    max_tx_rate: Option<i64>,
    l2enable: Option<Flag>,
    dpdk: Option<RawDpdk>,
    #[serde(rename = "dpdkDriver")]
    dpdk_driver: Option<String>,
    #[serde(rename = "runtimeConfig")]
    runtime: Option<RawRuntime>,
}

fn in_range(field: &str, value: i64, max: i64) -> Result<i64, CniError> {
    if (0..=max).contains(&value) {
        Ok(value)
    } else {
        Err(CniError::invalid_config(
            field,
            format!("{value} is out of range 0-{max}"),
        ))
    }
}

fn parse_mac(field: &str, text: &str) -> Result<MacAddr, CniError> {
    let mac: MacAddr = text
        .parse()
        .map_err(|e| CniError::invalid_config(field, e))?;
    if !mac.is_unicast() {
        return Err(CniError::invalid_config(
            field,
            format!("{mac} is not a unicast address"),
        ));
    }
    Ok(mac)
}

fn non_empty(field: &str, value: Option<String>) -> Result<Option<String>, CniError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(CniError::invalid_config(field, "must not be empty")),
        other => Ok(other),
    }
}

/// The log `call`'s configuration asks for, or stderr at the default level if `logLevel`/`logFile` are
/// malformed: for DEL and GC, which must not fail on a configuration they only log by.
pub fn log_of(call: &Call) -> Logger {
    Logger::from_conf(super::PLUGIN, &call.conf, DEFAULT_LOG_LEVEL)
        .unwrap_or_else(|_| Logger::new(super::PLUGIN, DEFAULT_LOG_LEVEL, None))
}

impl SriovConf {
    /// Reads and validates the configuration of `call`; errors are code 7 naming the field.
    pub fn from_call(call: &Call) -> Result<SriovConf, CniError> {
        let raw: Raw = call.conf.deserialize()?;
        let device = device_of(&raw)?.ok_or_else(|| {
            CniError::invalid_config("deviceID", "missing (or name the PF with if0)")
        })?;
        Self::with_device(call, raw, device)
    }

    /// Validates the configuration of `call` as [`SriovConf::from_call`] does, for DEL and GC:
    /// lenient about state, not about syntax. Only naming no VF at all is accepted (GC gets the
    /// network's configuration, without the `deviceID` a device plugin gave each pod).
    pub fn check_syntax(call: &Call) -> Result<(), CniError> {
        let raw: Raw = call.conf.deserialize()?;
        // Without a VF named, the rest is still checked; the stand-in selector is dropped.
        let device = device_of(&raw)?.unwrap_or(DeviceSel::Pf {
            pf: String::new(),
            vf: None,
        });
        Self::with_device(call, raw, device).map(drop)
    }

    fn with_device(call: &Call, raw: Raw, device: DeviceSel) -> Result<SriovConf, CniError> {
        let if0name = non_empty("if0name", raw.if0name)?;
        if let Some(name) = &if0name {
            validate_ifname(name).map_err(|e| CniError::invalid_config("if0name", e))?;
        }

        let vlan = vlan_of(raw.vlan, raw.vlan_qos, raw.vlan_proto.as_deref())?;
        let mut mac = raw
            .mac
            .as_deref()
            .map(|m| parse_mac("mac", m))
            .transpose()?;
        let runtime = raw.runtime.unwrap_or(RawRuntime {
            mac: None,
            device_info_file: None,
        });
        if let Some(m) = &runtime.mac {
            mac = Some(parse_mac("runtimeConfig.mac", m)?);
        }
        if let Some(m) = call.env.arg("MAC") {
            mac = Some(parse_mac("CNI_ARGS MAC", m)?);
        }
        let link_state = match raw.link_state.as_deref() {
            None => None,
            Some("auto") => Some(LinkState::Auto),
            Some("enable") => Some(LinkState::Enable),
            Some("disable") => Some(LinkState::Disable),
            Some(other) => {
                return Err(CniError::invalid_config(
                    "link_state",
                    format!("{other:?} is not auto, enable or disable"),
                ))
            }
        };
        let tx_rate = tx_rate_of(raw.min_tx_rate, raw.max_tx_rate)?;

        let l2 = raw
            .l2enable
            .map(|f| f.get("l2enable"))
            .transpose()?
            .unwrap_or(false);
        let ipam = !l2 && call.conf.ipam_type()?.is_some();
        let dpdk = dpdk_of(raw.dpdk, raw.dpdk_driver)?;

        let log = Logger::from_conf(super::PLUGIN, &call.conf, DEFAULT_LOG_LEVEL)?;
        let device_info_file = call
            .env
            .arg("CNIDeviceInfoFile")
            .map(str::to_string)
            .or(runtime.device_info_file)
            .map(PathBuf::from);

        Ok(SriovConf {
            device,
            if0name,
            vlan,
            mac,
            spoofchk: raw.spoofchk.map(|f| f.get("spoofchk")).transpose()?,
            trust: raw.trust.map(|f| f.get("trust")).transpose()?,
            link_state,
            tx_rate,
            ipam,
            dpdk,
            log,
            device_info_file,
        })
    }

    /// The VF settings to apply through the PF, in order.
    pub fn vf_settings(&self) -> Vec<VfSetting> {
        let mut out = Vec::new();
        if let Some(mac) = self.mac {
            out.push(VfSetting::Mac { mac });
        }
        if let Some((vlan, qos, proto)) = self.vlan {
            out.push(VfSetting::Vlan { vlan, qos, proto });
        }
        if let Some(on) = self.spoofchk {
            out.push(VfSetting::SpoofCheck { on });
        }
        if let Some(on) = self.trust {
            out.push(VfSetting::Trust { on });
        }
        if let Some(state) = self.link_state {
            out.push(VfSetting::LinkState { state });
        }
        if let Some((min, max)) = self.tx_rate {
            out.push(VfSetting::Rate { min, max });
        }
        out
    }
}

fn device_of(raw: &Raw) -> Result<Option<DeviceSel>, CniError> {
    let device_id = non_empty("deviceID", raw.device_id.clone())?;
    let if0 = non_empty("if0", raw.if0.clone())?;
    if let Some(pf) = &if0 {
        validate_ifname(pf).map_err(|e| CniError::invalid_config("if0", e))?;
    }
    let vf = raw
        .vf
        .map(|v| in_range("vf", v, u32::MAX.into()).map(|v| v as u32))
        .transpose()?;
    match (device_id, if0) {
        (Some(id), pf) => {
            let addr = id
                .parse()
                .map_err(|e| CniError::invalid_config("deviceID", e))?;
            Ok(Some(DeviceSel::Pci { addr, pf, vf }))
        }
        (None, Some(pf)) => Ok(Some(DeviceSel::Pf { pf, vf })),
        (None, None) => Ok(None),
    }
}

fn vlan_of(
    vlan: Option<i64>,
    qos: Option<i64>,
    proto: Option<&str>,
) -> Result<Option<(u16, u8, VlanProto)>, CniError> {
    let vlan = vlan.map(|v| in_range("vlan", v, 4094)).transpose()?;
    let qos = qos.map(|q| in_range("vlanQoS", q, 7)).transpose()?;
    let proto = match proto.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("802.1q") => Some(VlanProto::Dot1Q),
        Some("802.1ad") => Some(VlanProto::Dot1Ad),
        Some(_) => {
            return Err(CniError::invalid_config(
                "vlanProto",
                format!("{:?} is not 802.1q or 802.1ad", proto.unwrap_or_default()),
            ))
        }
    };
    match vlan {
        None if qos.is_some() => Err(CniError::invalid_config("vlanQoS", "requires vlan")),
        None if proto.is_some() => Err(CniError::invalid_config("vlanProto", "requires vlan")),
        None => Ok(None),
        Some(0) if qos.unwrap_or(0) != 0 => Err(CniError::invalid_config(
            "vlanQoS",
            "requires a non-zero vlan",
        )),
        Some(0) if proto == Some(VlanProto::Dot1Ad) => Err(CniError::invalid_config(
            "vlanProto",
            "802.1ad requires a non-zero vlan",
        )),
        Some(id) => Ok(Some((
            id as u16,
            qos.unwrap_or(0) as u8,
            proto.unwrap_or_default(),
        ))),
    }
}

fn tx_rate_of(min: Option<i64>, max: Option<i64>) -> Result<Option<(u32, u32)>, CniError> {
    let limit = u32::MAX.into();
    let min = min.map(|v| in_range("min_tx_rate", v, limit)).transpose()?;
    let max = max.map(|v| in_range("max_tx_rate", v, limit)).transpose()?;
    if min.is_none() && max.is_none() {
        return Ok(None);
    }
    let (min, max) = (min.unwrap_or(0) as u32, max.unwrap_or(0) as u32);
    if max != 0 && min > max {
        return Err(CniError::invalid_config(
            "min_tx_rate",
            format!("{min} exceeds max_tx_rate {max}"),
        ));
    }
    Ok(Some((min, max)))
}

fn dpdk_of(block: Option<RawDpdk>, driver: Option<String>) -> Result<Option<DpdkConf>, CniError> {
    let driver = non_empty("dpdkDriver", driver)?;
    match (block, driver) {
        (Some(_), Some(_)) => Err(CniError::invalid_config(
            "dpdkDriver",
            "cannot be combined with a dpdk block",
        )),
        (Some(b), None) => {
            let driver = non_empty("dpdk.dpdk_driver", b.dpdk_driver)?
                .ok_or_else(|| CniError::invalid_config("dpdk.dpdk_driver", "missing"))?;
            let kernel_driver = non_empty("dpdk.kernel_driver", b.kernel_driver)?;
            Ok(Some(DpdkConf {
                driver,
                kernel_driver,
            }))
        }
        (None, Some(driver)) => Ok(Some(DpdkConf {
            driver,
            kernel_driver: None,
        })),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Env, NetConf};
    use serde_json::{json, Value};

    fn call(conf: Value, args: &str) -> Call {
        let env = Env::from_lookup(|k| match k {
            "CNI_COMMAND" => Some("ADD".into()),
            "CNI_CONTAINERID" => Some("c1".into()),
            "CNI_NETNS" => Some("/run/netns/x".into()),
            "CNI_IFNAME" => Some("net1".into()),
            "CNI_ARGS" => Some(args.into()),
            _ => None,
        })
        .unwrap();
        let mut conf = conf;
        conf["name"] = json!("n");
        conf["type"] = json!("sriov");
        Call {
            env,
            conf: NetConf::parse(&serde_json::to_vec(&conf).unwrap()).unwrap(),
        }
    }

    fn parse(conf: Value) -> Result<SriovConf, CniError> {
        SriovConf::from_call(&call(conf, ""))
    }

    #[test]
    fn modern_form_with_every_setting() {
        let conf = parse(json!({
            "deviceID": "0000:03:10.1", "vlan": 100, "vlanQoS": 3, "vlanProto": "802.1AD",
            "mac": "02:00:00:00:00:01", "spoofchk": "off", "trust": "on", "link_state": "enable",
            "min_tx_rate": 10, "max_tx_rate": 100, "ipam": {"type": "host-local"}, "logLevel": "debug"
        }))
        .unwrap();
        assert_eq!(
            conf.device,
            DeviceSel::Pci {
                addr: "0000:03:10.1".parse().unwrap(),
                pf: None,
                vf: None
            }
        );
        assert!(conf.ipam);
        assert_eq!(conf.log.level(), Level::Debug);
        assert_eq!(
            conf.vf_settings(),
            vec![
                VfSetting::Mac {
                    mac: "02:00:00:00:00:01".parse().unwrap()
                },
                VfSetting::Vlan {
                    vlan: 100,
                    qos: 3,
                    proto: VlanProto::Dot1Ad
                },
                VfSetting::SpoofCheck { on: false },
                VfSetting::Trust { on: true },
                VfSetting::LinkState {
                    state: LinkState::Enable
                },
                VfSetting::Rate { min: 10, max: 100 },
            ]
        );
    }

    #[test]
    fn seed_forms_parse() {
        let kernel = parse(
            json!({"if0": "enp2s0", "vlan": 210, "if0name": "north", "l2enable": true,
            "ipam": {"type": "host-local"}}),
        )
        .unwrap();
        assert_eq!(
            kernel.device,
            DeviceSel::Pf {
                pf: "enp2s0".into(),
                vf: None
            }
        );
        assert_eq!(kernel.if0name.as_deref(), Some("north"));
        assert!(!kernel.ipam, "l2enable turns IPAM off");
        let dpdk = parse(json!({"if0": "enp4s0f3", "if0name": "north0", "vf": 2, "dpdk": {
            "kernel_driver": "ixgbevf", "dpdk_driver": "igb_uio", "dpdk_tool": "/root/dpdk/tools/dpdk-devbind.py"}}))
        .unwrap();
        assert_eq!(
            dpdk.device,
            DeviceSel::Pf {
                pf: "enp4s0f3".into(),
                vf: Some(2)
            }
        );
        assert_eq!(
            dpdk.dpdk,
            Some(DpdkConf {
                driver: "igb_uio".into(),
                kernel_driver: Some("ixgbevf".into())
            })
        );
        assert!(dpdk.vf_settings().is_empty());
    }

    #[test]
    fn device_id_may_come_with_the_seed_selectors() {
        let conf = parse(json!({"deviceID": "0000:03:10.2", "if0": "enp3s0", "vf": 2})).unwrap();
        assert_eq!(
            conf.device,
            DeviceSel::Pci {
                addr: "0000:03:10.2".parse().unwrap(),
                pf: Some("enp3s0".into()),
                vf: Some(2)
            }
        );
    }

    #[test]
    fn runtime_mac_then_cni_args_mac_win() {
        let conf = json!({"deviceID": "0000:03:10.1", "mac": "02:00:00:00:00:01",
            "runtimeConfig": {"mac": "02:00:00:00:00:02", "CNIDeviceInfoFile": "/run/devinfo/a.json"}});
        let c = SriovConf::from_call(&call(conf.clone(), "")).unwrap();
        assert_eq!(c.mac, Some("02:00:00:00:00:02".parse().unwrap()));
        assert_eq!(
            c.device_info_file,
            Some(PathBuf::from("/run/devinfo/a.json"))
        );
        let c = SriovConf::from_call(&call(conf, "IgnoreUnknown=1;MAC=02:00:00:00:00:03")).unwrap();
        assert_eq!(c.mac, Some("02:00:00:00:00:03".parse().unwrap()));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (json!({}), "deviceID: missing"),
            (
                json!({"deviceID": "03:10.1"}),
                "deviceID: \"03:10.1\" is not a PCI address",
            ),
            (json!({"if0": "eth1", "vf": -1}), "vf: -1 is out of range"),
            (json!({"if0": "a/b"}), "if0: "),
            (
                json!({"if0": "eth1", "vlan": 4095}),
                "vlan: 4095 is out of range 0-4094",
            ),
            (json!({"if0": "eth1", "vlan": "x"}), "vlan: "),
            (
                json!({"if0": "eth1", "vlanQoS": 1}),
                "vlanQoS: requires vlan",
            ),
            (
                json!({"if0": "eth1", "vlan": 0, "vlanQoS": 1}),
                "vlanQoS: requires a non-zero vlan",
            ),
            (
                json!({"if0": "eth1", "vlan": 5, "vlanQoS": 8}),
                "vlanQoS: 8 is out of range 0-7",
            ),
            (
                json!({"if0": "eth1", "vlan": 5, "vlanProto": "qinq"}),
                "vlanProto: \"qinq\" is not",
            ),
            (
                json!({"if0": "eth1", "vlanProto": "802.1ad"}),
                "vlanProto: requires vlan",
            ),
            (
                json!({"if0": "eth1", "mac": "zz"}),
                "mac: \"zz\" is not a MAC",
            ),
            (
                json!({"if0": "eth1", "mac": "01:00:5e:00:00:01"}),
                "mac: 01:00:5e:00:00:01 is not a unicast",
            ),
            (
                json!({"if0": "eth1", "runtimeConfig": {"mac": "nope"}}),
                "runtimeConfig.mac: ",
            ),
            (
                json!({"if0": "eth1", "spoofchk": "maybe"}),
                "spoofchk: \"maybe\" is not on/off",
            ),
            (
                json!({"if0": "eth1", "link_state": "up"}),
                "link_state: \"up\" is not auto",
            ),
            (
                json!({"if0": "eth1", "min_tx_rate": 200, "max_tx_rate": 100}),
                "min_tx_rate: 200 exceeds max_tx_rate 100",
            ),
            (
                json!({"if0": "eth1", "dpdk": {"kernel_driver": "igbvf"}}),
                "dpdk.dpdk_driver: missing",
            ),
            (
                json!({"if0": "eth1", "dpdk": {"dpdk_driver": "vfio-pci"}, "dpdkDriver": "vfio-pci"}),
                "dpdkDriver: cannot",
            ),
            (
                json!({"if0": "eth1", "if0name": "this-name-is-too-long"}),
                "if0name: ",
            ),
            (json!({"if0": "eth1", "logLevel": "loud"}), "logLevel: "),
            (json!({"if0": "eth1", "ipam": {}}), "ipam.type: missing"),
        ];
        for (conf, want) in cases {
            let err = parse(conf.clone()).unwrap_err();
            assert_eq!(err.code, CniError::INVALID_CONFIG, "{conf}: {err}");
            assert!(
                err.msg.starts_with(want),
                "{conf}: {:?} does not start with {want:?}",
                err.msg
            );
        }
        let err = SriovConf::from_call(&call(json!({"if0": "eth1"}), "MAC=bad")).unwrap_err();
        assert!(err.msg.starts_with("CNI_ARGS MAC: "), "{}", err.msg);
    }
}
