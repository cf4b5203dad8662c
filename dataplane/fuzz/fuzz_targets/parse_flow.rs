//! Any bytes: every view either refuses them or answers every accessor; `parse_flow` never panics.
#![no_main]

use dataplane::packet::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_flow(data);
    if let Ok(eth) = EthernetFrame::new_checked(data) {
        let _ = (
            eth.dst_addr(),
            eth.src_addr(),
            eth.ethertype(),
            eth.payload().len(),
        );
    }
    if let Ok(tag) = VlanTag::new_checked(data) {
        let _ = (
            tag.pcp(),
            tag.dei(),
            tag.vid(),
            tag.ethertype(),
            tag.payload().len(),
        );
    }
    if let Ok(arp) = ArpPacket::new_checked(data) {
        let _ = (
            arp.operation(),
            arp.sender_hardware_addr(),
            arp.sender_protocol_addr(),
        );
        let _ = (arp.target_hardware_addr(), arp.target_protocol_addr());
    }
    if let Ok(ip) = Ipv4Packet::new_checked(data) {
        let _ = (
            ip.options().len(),
            ip.payload().len(),
            ip.frag_offset(),
            ip.src_addr(),
            ip.dst_addr(),
        );
    }
    if let Ok(ip) = Ipv6Packet::new_checked(data) {
        let _ = (
            ip.payload().len(),
            ip.upper_layer(),
            ip.flow_label(),
            ip.traffic_class(),
        );
    }
    if let Ok(tcp) = TcpPacket::new_checked(data) {
        let _ = (
            tcp.options().len(),
            tcp.payload().len(),
            tcp.flags(),
            tcp.seq_number(),
        );
    }
    if let Ok(udp) = UdpPacket::new_checked(data) {
        let _ = (udp.payload().len(), udp.src_port(), udp.dst_port());
    }
    if let Ok(icmp) = IcmpPacket::new_checked(data) {
        let _ = (icmp.msg_type(), icmp.rest_of_header(), icmp.payload().len());
    }
});
