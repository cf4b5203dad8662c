# Frames and pcap files from bash, for docker/test-images.sh (sourced). Frames are hex strings.

# hex16 N: N as 4 hex digits.
hex16() { printf '%04x' "$1"; }
# le32 N: N as 4 little-endian bytes in hex.
le32() { printf '%02x%02x%02x%02x' $(( $1 & 255 )) $(( $1 >> 8 & 255 )) $(( $1 >> 16 & 255 )) $(( $1 >> 24 )); }
# ip_hex A.B.C.D
ip_hex() { local IFS=.; set -- $1; printf '%02x%02x%02x%02x' "$1" "$2" "$3" "$4"; }

# udp SPORT DPORT PAYLOAD: a UDP datagram (checksum 0: none).
udp() { echo "$(hex16 "$1")$(hex16 "$2")$(hex16 $(( 8 + ${#3} / 2 )))0000$3"; }
# tcp SPORT DPORT FLAGS: a 20-byte TCP header (FLAGS in hex, e.g. 02 = SYN).
tcp() { echo "$(hex16 "$1")$(hex16 "$2")000000010000000050$3ffff00000000"; }

# ipv4 PROTO SRC DST PAYLOAD: an IPv4 packet with a correct header checksum.
ipv4() {
  local header sum=0 i
  header="4500$(hex16 $(( 20 + ${#4} / 2 )))00010000$(printf '40%02x' "$1")0000$(ip_hex "$2")$(ip_hex "$3")"
  for (( i = 0; i < 40; i += 4 )); do sum=$(( sum + 16#${header:i:4} )); done
  while (( sum >> 16 )); do sum=$(( (sum & 0xffff) + (sum >> 16) )); done
  echo "${header:0:20}$(hex16 $(( ~sum & 0xffff )))${header:24}$4"
}

# vlan_frame DST SRC VLAN IPV4: an Ethernet frame with one 802.1Q tag around an IPv4 packet.
vlan_frame() { echo "$1${2}8100$(hex16 "$3")0800$4"; }

# bytes HEX: writes the bytes HEX spells to stdout.
bytes() { printf '%b' "$(sed 's/../\\x&/g' <<<"$1")"; }

# write_pcap FILE FRAME...: a pcap file (microsecond timestamps, Ethernet) holding the frames.
write_pcap() {
  local file=$1 frame len
  shift
  {
    bytes d4c3b2a1020004000000000000000000ffff000001000000
    for frame in "$@"; do
      len=$(( ${#frame} / 2 ))
      bytes "0000000000000000$(le32 "$len")$(le32 "$len")$frame"
    done
  } > "$file"
}

# read_pcap FILE: the frames of a pcap file written as above, in hex, separated by spaces.
read_pcap() {
  local hex pos=48 len frames=()
  hex=$(od -An -v -tx1 "$1" | tr -d ' \n')
  while (( pos < ${#hex} )); do
    len=$(( 16#${hex:pos+22:2}${hex:pos+20:2}${hex:pos+18:2}${hex:pos+16:2} ))
    frames+=("${hex:pos+32:len*2}")
    pos=$(( pos + 32 + len * 2 ))
  done
  echo "${frames[*]}"
}
