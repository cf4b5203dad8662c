//! Criterion: `parse_flow` (Ethernet down to the L4 header, every header checked) on the four frame
//! shapes the firewall sees: untagged IPv4, 802.1Q-tagged IPv4, QinQ (802.1ad outer + 802.1Q inner)
//! IPv4 and untagged IPv6, all TCP with ports. Reports ns per frame (HTML reports in
//! `target/criterion`).

use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use dataplane::packet::{
    emit_frame, parse_flow, Flow, IpFlow, MacAddr, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Frames parsed per iteration (one burst).
const BURST: usize = 32;

/// A TCP flow between `src` and `dst`, tagged with `vlan` (the outer tag under QinQ).
fn flow(vlan: Option<u16>, src: IpAddr, dst: IpAddr) -> Flow {
    let ethertype = if src.is_ipv4() {
        ETHERTYPE_IPV4
    } else {
        ETHERTYPE_IPV6
    };
    let ip = IpFlow {
        src,
        dst,
        protocol: IPPROTO_TCP,
        ports: Some((40000, 443)),
        tcp_flags: Some(0x10),
    };
    Flow {
        vlan,
        ethertype,
        ip: Some(ip),
    }
}

/// The four shapes, each a burst of frames that differ in their source port.
fn shapes() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let v4 = |a| IpAddr::V4(Ipv4Addr::new(10, 1, 0, a));
    let v6 = |a| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, a));
    let shapes: [(&str, Flow, Option<u16>); 4] = [
        ("untagged IPv4", flow(None, v4(1), v4(2)), None),
        ("802.1Q IPv4", flow(Some(210), v4(1), v4(2)), None),
        ("QinQ IPv4", flow(Some(100), v4(1), v4(2)), Some(210)),
        ("untagged IPv6", flow(None, v6(1), v6(2)), None),
    ];
    let (dst, src) = (MacAddr([2, 0, 0, 0, 0, 2]), MacAddr([2, 0, 0, 0, 0, 1]));
    shapes
        .into_iter()
        .map(|(name, base, inner)| {
            let frames = (0..BURST as u16)
                .map(|i| {
                    let mut f = base;
                    if let Some(ip) = f.ip.as_mut() {
                        ip.ports = Some((40000 + i, 443));
                    }
                    emit_frame(&f, inner, dst, src, 6)
                })
                .collect();
            (name, frames)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_flow");
    group.throughput(Throughput::Elements(BURST as u64));
    for (name, frames) in shapes() {
        // The bench measures the success path: every frame must parse to the flow it was built from.
        let parsed: Vec<Flow> = frames.iter().map(|f| parse_flow(f).expect(name)).collect();
        assert!(
            parsed.iter().all(|f| f.ip.is_some()),
            "{name}: frames without IP fields"
        );
        group.bench_with_input(BenchmarkId::from_parameter(name), &frames, |b, frames| {
            b.iter(|| {
                let mut ports = 0u32;
                for frame in frames {
                    if let Ok(Flow {
                        ip:
                            Some(IpFlow {
                                ports: Some((s, _)),
                                ..
                            }),
                        ..
                    }) = parse_flow(black_box(frame))
                    {
                        ports += u32::from(s);
                    }
                }
                ports
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    // Criterion's HTML report plots draw text with plotters, which needs the font registered.
    ::benches::report::register_font().expect("a font for the report plots");
    benches();
    Criterion::default().configure_from_args().final_summary();
}
