//! A fake SR-IOV host for the `sriov` plugin tests: a sysfs tree with PFs, VFs, driver links,
//! IOMMU groups and the bind/unbind/drivers_probe files, whose VF netdevs are REAL veth ends
//! (so the plugin moves real links into real namespaces), plus a small "kernel" thread that
//! answers writes to the binding files the way the PCI core does. PF VF settings go to a
//! journal (`SRIOV_PF_JOURNAL`) that tests read back.
//!
//! Needs root, like every namespace test here; fails loudly without it.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cni::netlink::{JournalPf, MacAddr, PfControl, VfConfig, VfSetting};
use cni::sysfs::{PciAddr, Sysfs};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use serde_json::Value;

use super::{host_links, names_in, require_root, sh, sriov_bin, unique, Netns, Pod, Scratch};

/// The PF's kernel driver in the tree.
pub const PF_DRIVER: &str = "igb";
/// The VFs' kernel driver in the tree.
pub const VF_DRIVER: &str = "igbvf";
/// Drivers registered in the tree.
const DRIVERS: [&str; 4] = [PF_DRIVER, VF_DRIVER, "vfio-pci", "uio_pci_generic"];

/// One fake VF.
#[derive(Debug, Clone)]
pub struct FakeVf {
    /// VF index on its PF.
    pub index: u32,
    /// PCI address.
    pub addr: String,
    /// Its netdev: the host end of a veth pair.
    pub netdev: String,
    /// The other end of the pair, which stays in the host ("the wire").
    pub peer: String,
    /// IOMMU group number.
    pub group: u32,
    /// The netdev's MAC when the tree was made.
    pub mac: String,
}

/// One fake PF.
#[derive(Debug, Clone)]
pub struct FakePf {
    /// PF netdev name (`if0`).
    pub name: String,
    /// PCI address.
    pub addr: String,
    /// Its VFs by index.
    pub vfs: Vec<FakeVf>,
}

/// The fake host: tree under a scratch directory, emulator thread, veths.
pub struct FakeTree {
    /// Holds `sys/`, `dev/`, `state/`, `journal`, `ipam/`.
    pub scratch: Scratch,
    /// The PFs added so far.
    pub pfs: Vec<FakePf>,
    stop: Arc<AtomicBool>,
    kernel: Option<JoinHandle<()>>,
}

fn dev_dir(sys: &Path, addr: &str) -> PathBuf {
    sys.join("devices/pci0000:00").join(addr)
}

impl FakeTree {
    /// An empty tree with its kernel emulator running.
    pub fn new() -> FakeTree {
        require_root();
        let scratch = Scratch::new();
        let sys = scratch.join("sys");
        for dir in [
            "bus/pci/devices",
            "class/net",
            "kernel/iommu_groups",
            "devices/pci0000:00",
        ] {
            fs::create_dir_all(sys.join(dir)).unwrap();
        }
        for driver in DRIVERS {
            let d = sys.join("bus/pci/drivers").join(driver);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("bind"), "").unwrap();
            fs::write(d.join("unbind"), "").unwrap();
        }
        fs::write(sys.join("bus/pci/drivers_probe"), "").unwrap();
        fs::create_dir_all(scratch.join("dev/vfio")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let kernel = Some(spawn_kernel(
            sys,
            scratch.join("dev"),
            scratch.join("journal"),
            stop.clone(),
        ));
        FakeTree {
            scratch,
            pfs: Vec::new(),
            stop,
            kernel,
        }
    }

    /// The directory playing `/sys`.
    pub fn sys(&self) -> PathBuf {
        self.scratch.join("sys")
    }

    /// The plugin's state directory.
    pub fn state(&self) -> PathBuf {
        self.scratch.join("state")
    }

    /// The PF journal.
    pub fn journal(&self) -> JournalPf {
        JournalPf::new(self.scratch.join("journal"))
    }

    /// A pod in `netns` with a unique container ID and interface `net1`, calling the `sriov` binary
    /// with the tree's seams in its environment.
    pub fn pod(&self, netns: &Netns) -> Pod {
        Pod {
            binary: sriov_bin(),
            id: unique("ctr"),
            ifname: "net1".into(),
            env: self.env(),
            ..Pod::new(netns)
        }
    }

    /// The host seams to give the plugin.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            ("SRIOV_SYSFS_ROOT".into(), path(self.sys())),
            ("SRIOV_DEV_ROOT".into(), path(self.scratch.join("dev"))),
            ("SRIOV_STATE_DIR".into(), path(self.state())),
            (
                "SRIOV_PF_JOURNAL".into(),
                path(self.scratch.join("journal")),
            ),
        ]
    }

    /// Adds a PF with `num_vfs` VFs, each VF netdev a fresh veth end; returns its index.
    pub fn add_pf(&mut self, num_vfs: u32) -> usize {
        let sys = self.sys();
        let n = self.pfs.len();
        let bus = 0x05 + n;
        // A PCI domain of this process's own: trees of tests running in parallel share the
        // host namespace, where the plugin names VF netdevs after their PCI address.
        let domain = std::process::id() % 0xffff;
        let pf = FakePf {
            name: unique("spf"),
            addr: format!("{domain:04x}:{bus:02x}:00.0"),
            vfs: Vec::new(),
        };
        let pf_dir = dev_dir(&sys, &pf.addr);
        fs::create_dir_all(pf_dir.join("net").join(&pf.name)).unwrap();
        fs::write(pf_dir.join("sriov_totalvfs"), "7\n").unwrap();
        fs::write(pf_dir.join("sriov_numvfs"), format!("{num_vfs}\n")).unwrap();
        fs::write(pf_dir.join("driver_override"), "(null)\n").unwrap();
        symlink(
            format!("../../../bus/pci/drivers/{PF_DRIVER}"),
            pf_dir.join("driver"),
        )
        .unwrap();
        symlink(
            format!("../../../devices/pci0000:00/{}", pf.addr),
            sys.join("bus/pci/devices").join(&pf.addr),
        )
        .unwrap();
        symlink(
            format!("../../devices/pci0000:00/{}/net/{}", pf.addr, pf.name),
            sys.join("class/net").join(&pf.name),
        )
        .unwrap();
        symlink(
            format!("../../../{}", pf.addr),
            pf_dir.join("net").join(&pf.name).join("device"),
        )
        .unwrap();
        let mut pf = pf;
        for index in 0..num_vfs {
            let addr = format!(
                "{domain:04x}:{bus:02x}:{:02x}.{}",
                0x10 + index / 8,
                index % 8
            );
            let group = 40 + (n as u32) * 8 + index;
            let (netdev, peer) = (unique("sv"), unique("sw"));
            sh(
                "ip",
                &[
                    "link", "add", &netdev, "type", "veth", "peer", "name", &peer,
                ],
            );
            sh("ip", &["link", "set", &peer, "up"]);
            let vf_dir = dev_dir(&sys, &addr);
            fs::create_dir_all(vf_dir.join("net").join(&netdev)).unwrap();
            fs::write(vf_dir.join("driver_override"), "(null)\n").unwrap();
            symlink(format!("../{}", pf.addr), vf_dir.join("physfn")).unwrap();
            symlink(format!("../{addr}"), pf_dir.join(format!("virtfn{index}"))).unwrap();
            symlink(
                format!("../../../bus/pci/drivers/{VF_DRIVER}"),
                vf_dir.join("driver"),
            )
            .unwrap();
            fs::create_dir_all(sys.join("kernel/iommu_groups").join(group.to_string())).unwrap();
            symlink(
                format!("../../../kernel/iommu_groups/{group}"),
                vf_dir.join("iommu_group"),
            )
            .unwrap();
            symlink(
                format!("../../../devices/pci0000:00/{addr}"),
                sys.join("bus/pci/devices").join(&addr),
            )
            .unwrap();
            let mac = FakeTree::host_mac(&netdev);
            pf.vfs.push(FakeVf {
                index,
                addr,
                netdev,
                peer,
                group,
                mac,
            });
        }
        self.pfs.push(pf);
        n
    }

    /// Asserts that every VF is as the tree made it (netdev in the host under its name and
    /// MAC, on its kernel driver, no PF settings) and that no allocation, attachment record or
    /// IPAM lease is left.
    pub fn assert_restored(&self) {
        assert_eq!(
            self.state_files("alloc"),
            Vec::<String>::new(),
            "allocations left"
        );
        assert_eq!(
            self.state_files("attachments"),
            Vec::<String>::new(),
            "records left"
        );
        assert_eq!(
            self.scratch.leases("ipam"),
            Vec::<String>::new(),
            "IPAM leases left"
        );
        let host = host_links();
        for (p, pf) in self.pfs.iter().enumerate() {
            for vf in &pf.vfs {
                assert_eq!(
                    self.driver_of(&vf.addr).as_deref(),
                    Some(VF_DRIVER),
                    "{}",
                    vf.addr
                );
                assert!(host.contains(&vf.netdev), "{} back in the host", vf.netdev);
                assert_eq!(FakeTree::host_mac(&vf.netdev), vf.mac, "{} MAC", vf.netdev);
                assert_eq!(
                    self.vf_config(p, vf.index),
                    VfConfig::default(),
                    "{} settings",
                    vf.addr
                );
            }
        }
    }

    /// The driver `addr` is bound to, read from its `driver` link.
    pub fn driver_of(&self, addr: &str) -> Option<String> {
        fs::read_link(dev_dir(&self.sys(), addr).join("driver"))
            .ok()
            .map(|t| t.file_name().unwrap().to_string_lossy().into_owned())
    }

    /// The `driver_override` of `addr` as the kernel would show it.
    pub fn driver_override(&self, addr: &str) -> String {
        fs::read_to_string(dev_dir(&self.sys(), addr).join("driver_override"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Whether `/dev/vfio/<group>` exists in the tree.
    pub fn vfio_node(&self, group: u32) -> bool {
        self.scratch
            .join("dev/vfio")
            .join(group.to_string())
            .exists()
    }

    /// Binds `addr` to `driver` the way an operator would beforehand (`driver_override` +
    /// unbind + `drivers_probe`), through the emulated kernel.
    pub fn prebind(&self, addr: &str, driver: &str) {
        let sys = self.sys();
        let dir = dev_dir(&sys, addr);
        fs::write(dir.join("driver_override"), driver).unwrap();
        if let Some(current) = self.driver_of(addr) {
            fs::write(
                sys.join("bus/pci/drivers").join(current).join("unbind"),
                addr,
            )
            .unwrap();
            wait_until(|| self.driver_of(addr).is_none());
        }
        fs::write(sys.join("bus/pci/drivers_probe"), addr).unwrap();
        wait_until(|| self.driver_of(addr).as_deref() == Some(driver));
    }

    /// Every VF setting sent to a PF, oldest first.
    pub fn sent(&self) -> Vec<VfSetting> {
        self.journal()
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.setting)
            .collect()
    }

    /// [`FakeTree::sent`] as text (`vlan 210 qos 0 proto Dot1Q`).
    pub fn sent_text(&self) -> Vec<String> {
        self.sent().iter().map(ToString::to_string).collect()
    }

    /// The VF settings the PF journal reports for `vf` of PF `pf`.
    pub fn vf_config(&self, pf: usize, vf: u32) -> VfConfig {
        self.journal().vf_config(&self.pfs[pf].name, vf).unwrap()
    }

    /// Files in `state/<sub>` (allocation records, attachment caches).
    pub fn state_files(&self, sub: &str) -> Vec<String> {
        self.scratch.files(&format!("state/{sub}"))
    }

    /// The MAC of host link `name`.
    pub fn host_mac(name: &str) -> String {
        fs::read_to_string(Path::new("/sys/class/net").join(name).join("address"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(kernel) = self.kernel.take() {
            let _ = kernel.join();
        }
        for vf in self.pfs.iter().flat_map(|p| &p.vfs) {
            // Deleting the peer deletes the pair, wherever the VF end went.
            let _ = Command::new("ip").args(["link", "del", &vf.peer]).output();
        }
    }
}

/// Polls `cond` for up to 3 s.
pub fn wait_until(cond: impl Fn() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("condition not reached in 3 s");
}

/// What a watched file is.
#[derive(Clone)]
enum Knob {
    Bind(String),
    Unbind(String),
    Probe,
}

/// The emulated PCI core: reacts to writes to `bind`, `unbind` and `drivers_probe`. Like
/// igbvf, a VF netdev that (re)appears takes the MAC its PF imposes, or else a fresh random
/// one: its old MAC is not kept across a rebind.
struct PciCore {
    sys: PathBuf,
    dev: PathBuf,
    /// The PF journal, for the administrative MAC of a VF.
    journal: PathBuf,
    /// Netdev names of VFs whose kernel driver was unbound (the netdev is "destroyed").
    parked: HashMap<String, Vec<String>>,
}

impl PciCore {
    fn device(&self, addr: &str) -> PathBuf {
        dev_dir(&self.sys, addr)
    }

    fn driver(&self, addr: &str) -> Option<String> {
        fs::read_link(self.device(addr).join("driver"))
            .ok()
            .map(|t| t.file_name().unwrap().to_string_lossy().into())
    }

    fn group(&self, addr: &str) -> Option<String> {
        fs::read_link(self.device(addr).join("iommu_group"))
            .ok()
            .map(|t| t.file_name().unwrap().to_string_lossy().into())
    }

    fn handle(&mut self, knob: &Knob, addr: &str) {
        if !self.device(addr).is_dir() {
            return;
        }
        match knob {
            Knob::Unbind(driver) if self.driver(addr).as_deref() == Some(driver) => {
                self.unbind(addr, driver)
            }
            Knob::Bind(driver) if self.driver(addr).is_none() => {
                let over = fs::read_to_string(self.device(addr).join("driver_override"))
                    .unwrap_or_default();
                let over = over.trim();
                if over.is_empty() || over == "(null)" || over == driver {
                    self.bind(addr, driver);
                }
            }
            Knob::Probe if self.driver(addr).is_none() => {
                let over = fs::read_to_string(self.device(addr).join("driver_override"))
                    .unwrap_or_default();
                let over = over.trim();
                let driver = if over.is_empty() || over == "(null)" {
                    if self.device(addr).join("physfn").exists() {
                        VF_DRIVER
                    } else {
                        PF_DRIVER
                    }
                } else {
                    over
                };
                if self.sys.join("bus/pci/drivers").join(driver).is_dir() {
                    self.bind(addr, driver);
                }
            }
            _ => {}
        }
    }

    /// Removes `driver` from `addr`: its devices go first, the `driver` link last.
    fn unbind(&mut self, addr: &str, driver: &str) {
        let dev = self.device(addr);
        if driver == VF_DRIVER {
            let names = names_in(&dev.join("net"));
            let _ = fs::remove_dir_all(dev.join("net"));
            self.parked.insert(addr.to_string(), names);
        }
        if driver == "vfio-pci" {
            if let Some(g) = self.group(addr) {
                let _ = fs::remove_file(self.dev.join("vfio").join(g));
            }
        }
        fs::remove_file(dev.join("driver")).unwrap();
    }

    /// The MAC the PF imposes on VF `addr`, read through the plugin's own sysfs view.
    fn admin_mac(&self, addr: &str) -> Option<MacAddr> {
        let sysfs = Sysfs::new(&self.sys);
        let vf: PciAddr = addr.parse().ok()?;
        let pf = sysfs.physfn(&vf).ok()??;
        let index = sysfs.vf_index(&pf, &vf).ok()??;
        let pf_name = sysfs.netdev_names(&pf).ok()?.into_iter().next()?;
        let mac = JournalPf::new(&self.journal)
            .vf_config(&pf_name, index)
            .ok()?
            .mac;
        mac.is_unicast().then_some(mac)
    }

    /// Probes `driver` on `addr`. As in the kernel, the `driver` link appears last, once the
    /// driver's devices (netdev with its MAC, vfio node) exist.
    fn bind(&mut self, addr: &str, driver: &str) {
        let dev = self.device(addr);
        if driver == VF_DRIVER {
            let mac = self.admin_mac(addr).unwrap_or_else(random_mac);
            for name in self.parked.remove(addr).unwrap_or_default() {
                sh("ip", &["link", "set", &name, "address", &mac.to_string()]);
                fs::create_dir_all(dev.join("net").join(&name)).unwrap();
            }
        }
        if driver == "vfio-pci" {
            if let Some(g) = self.group(addr) {
                fs::write(self.dev.join("vfio").join(g), "").unwrap();
            }
        }
        symlink(
            format!("../../../bus/pci/drivers/{driver}"),
            dev.join("driver"),
        )
        .unwrap();
    }
}

/// A locally administered unicast MAC that differs from call to call.
fn random_mac() -> MacAddr {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let b = (nanos ^ u64::from(std::process::id()) << 32).to_le_bytes();
    MacAddr([0x0a, b[0], b[1], b[2], b[3], b[4]])
}

fn spawn_kernel(
    sys: PathBuf,
    dev: PathBuf,
    journal: PathBuf,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
    let mut knobs: HashMap<WatchDescriptor, (PathBuf, Knob)> = HashMap::new();
    let mut watch = |path: PathBuf, knob: Knob| {
        let wd = inotify
            .add_watch(&path, AddWatchFlags::IN_CLOSE_WRITE)
            .unwrap();
        knobs.insert(wd, (path, knob));
    };
    for driver in DRIVERS {
        let d = sys.join("bus/pci/drivers").join(driver);
        watch(d.join("bind"), Knob::Bind(driver.into()));
        watch(d.join("unbind"), Knob::Unbind(driver.into()));
    }
    watch(sys.join("bus/pci/drivers_probe"), Knob::Probe);
    let mut core = PciCore {
        sys,
        dev,
        journal,
        parked: HashMap::new(),
    };
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match inotify.read_events() {
                Ok(events) => {
                    for event in events {
                        let Some((path, knob)) = knobs.get(&event.wd) else {
                            continue;
                        };
                        let addr = fs::read_to_string(path).unwrap_or_default();
                        core.handle(knob, addr.trim());
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("inotify: {e}"),
            }
        }
    })
}

/// A network configuration for the tree: `extra` merged over name/type/cniVersion.
pub fn conf(version: &str, extra: Value) -> Value {
    let mut conf = serde_json::json!({"cniVersion": version, "name": "sriov-net", "type": "sriov"});
    for (k, v) in extra.as_object().unwrap() {
        conf[k] = v.clone();
    }
    conf
}

/// A host-local IPAM section storing leases under `tree`'s scratch `ipam/`.
pub fn host_local(tree: &FakeTree, subnet: &str) -> Value {
    serde_json::json!({"type": "host-local", "subnet": subnet, "dataDir": tree.scratch.join("ipam"),
        "routes": [{"dst": "198.51.100.0/24"}]})
}
