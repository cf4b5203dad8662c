//! Links: list, look up, rename, set MAC, up/down, move to another namespace.

use std::os::fd::AsRawFd;

use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::{Error, MacAddr, Netlink};
use crate::netns::NetNs;

const ENODEV: i32 = 19;

/// What the kernel reports about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index within its namespace.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Link-layer address, when the link has an Ethernet-sized one.
    pub mac: Option<MacAddr>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Bus address of the device behind the link (a PCI address for a VF), if any.
    pub parent_device: Option<String>,
}

impl Link {
    fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            parent_device: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Address(addr) if addr.len() == 6 => {
                    link.mac = MacAddr::from_slice(&addr)
                }
                LinkAttribute::ParentDevName(dev) => link.parent_device = Some(dev),
                _ => {}
            }
        }
        link
    }
}

impl Netlink {
    /// Every link in this namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, Error> {
        let replies = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), || {
            "list links".into()
        })?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(msg) => Some(Link::from_message(msg)),
                _ => None,
            })
            .collect())
    }

    /// The names of every link in this namespace.
    pub fn link_names(&mut self) -> Result<Vec<String>, Error> {
        Ok(self.links()?.into_iter().map(|l| l.name).collect())
    }

    /// The link called `name`, or `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(msg, || format!("look up link {name}"))
    }

    /// The link with index `index`, or `None` when there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg, || format!("look up link #{index}"))
    }

    fn get_link(
        &mut self,
        msg: LinkMessage,
        what: impl Fn() -> String,
    ) -> Result<Option<Link>, Error> {
        match self.get(RouteNetlinkMessage::GetLink(msg), what) {
            Ok(RouteNetlinkMessage::NewLink(reply)) => Ok(Some(Link::from_message(reply))),
            Ok(other) => Err(Error::Malformed(format!("unexpected reply {other:?}"))),
            Err(e) if e.errno() == Some(ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renames link `index` (it must be down).
    pub fn rename(&mut self, index: u32, name: &str) -> Result<(), Error> {
        self.set_link(
            index,
            |m| m.attributes.push(LinkAttribute::IfName(name.to_string())),
            || format!("rename link #{index} to {name}"),
        )
    }

    /// Sets the MAC address of link `index`.
    pub fn set_mac(&mut self, index: u32, mac: MacAddr) -> Result<(), Error> {
        self.set_link(
            index,
            |m| m.attributes.push(LinkAttribute::Address(mac.0.to_vec())),
            || format!("set MAC of link #{index} to {mac}"),
        )
    }

    /// Brings link `index` administratively up or down.
    pub fn set_up(&mut self, index: u32, up: bool) -> Result<(), Error> {
        self.set_link(
            index,
            |m| {
                m.header.change_mask = LinkFlags::Up;
                m.header.flags = if up {
                    LinkFlags::Up
                } else {
                    LinkFlags::empty()
                };
            },
            || format!("set link #{index} {}", if up { "up" } else { "down" }),
        )
    }

    /// Moves link `index` into the namespace `netns`.
    pub fn move_to_netns(&mut self, index: u32, netns: &NetNs) -> Result<(), Error> {
        let fd = netns.fd().as_raw_fd();
        self.set_link(
            index,
            |m| m.attributes.push(LinkAttribute::NetNsFd(fd)),
            || format!("move link #{index} to netns {}", netns.path().display()),
        )
    }

    pub(super) fn set_link(
        &mut self,
        index: u32,
        fill: impl FnOnce(&mut LinkMessage),
        what: impl Fn() -> String,
    ) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        fill(&mut msg);
        self.execute(RouteNetlinkMessage::SetLink(msg), 0, what)
    }
}
