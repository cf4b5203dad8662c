#!/bin/sh
# Builds DPDK's own l3fwd example (the peer of `vlan-firewall` in the `throughput` harness: its
# `--lookup=acl` mode classifies with rte_acl) from Debian's dpdk-doc examples source, against the
# installed libdpdk, into a cache outside the repository. Prints the binary's path.
#
# DPDK's source is copied into the cache and patched there, never into this repository: l3fwd asks
# every port for RX checksum offload, which virtual devices (net_pcap, net_null) do not offer, so the
# copy drops that request (packet types then come from `--parse-ptype`).
set -eu

CACHE=${L3FWD_CACHE:-/var/cache/multiplane/l3fwd}
EXAMPLES=/usr/share/dpdk/examples
VERSION=$(pkg-config --modversion libdpdk)
OUT="$CACHE/$VERSION"
BIN="$OUT/l3fwd/build/l3fwd"

if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi

if [ ! -f "$EXAMPLES/l3fwd/main.c" ]; then
    echo "l3fwd build: installing dpdk-doc (the examples' source)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dpdk-doc >&2
fi

rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
cp -r "$EXAMPLES/l3fwd" "$EXAMPLES/common" "$OUT.tmp/"
sed -i 's/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/.offloads = 0,/' "$OUT.tmp/l3fwd/main.c"
if grep -q 'RTE_ETH_RX_OFFLOAD_CHECKSUM,' "$OUT.tmp/l3fwd/main.c"; then
    echo "l3fwd build: the RX checksum offload patch did not apply" >&2
    exit 1
fi
make -s -C "$OUT.tmp/l3fwd" >&2
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$BIN"
