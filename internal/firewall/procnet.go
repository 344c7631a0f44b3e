package firewall

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// tcpListen is the state number of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// ParseProcNetTCP adds the listening sockets of /proc/net/tcp (v6 false) or
// /proc/net/tcp6 (v6 true) to l. A socket of tcp6 on an IPv4-mapped
// address listens for IPv4; one on :: is taken to listen for IPv4 too,
// since /proc does not show IPV6_V6ONLY and that reading never displaces a
// real service.
func ParseProcNetTCP(data []byte, v6 bool, l Listeners) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		if f[3] != tcpListen {
			continue
		}
		addrHex, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			return fmt.Errorf("bad local address %q", f[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return fmt.Errorf("bad port in %q", f[1])
		}
		addr, err := procAddr(addrHex)
		if err != nil {
			return err
		}
		switch {
		case !v6 || addr.Is4In6():
			l.Add(IPv4, addr.Unmap(), int(port))
		case addr.IsUnspecified():
			l.Add(IPv6, addr, int(port))
			l.Add(IPv4, netip.IPv4Unspecified(), int(port))
		default:
			l.Add(IPv6, addr, int(port))
		}
	}
	return sc.Err()
}

// procAddr decodes an address of /proc/net/tcp{,6}: the kernel prints each
// 32-bit word of the network-order address as a number in the machine's
// own byte order, so the words are read back in native order (routers are
// big- or little-endian).
func procAddr(h string) (netip.Addr, error) {
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, fmt.Errorf("bad address %q", h)
	}
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(out[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(out)
	return a, nil
}
