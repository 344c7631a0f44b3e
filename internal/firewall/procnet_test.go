package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// procHex writes an address the way the kernel does in /proc/net/tcp{,6}.
func procHex(a netip.Addr) string {
	b := a.AsSlice()
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return s.String()
}

func procLine(a netip.Addr, port int, state string) string {
	return fmt.Sprintf("   0: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0",
		procHex(a), port, procHex(netip.IPv6Unspecified()), state)
}

func TestParseProcNetTCP(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tcp := header + strings.Join([]string{
		procLine(ip("0.0.0.0"), 22, "0A"),
		procLine(ip("127.0.0.1"), 53, "0A"),
		procLine(ip("192.0.2.1"), 23, "0A"),
		procLine(ip("192.0.2.1"), 40000, "01"), // established: not a listener
	}, "\n")
	tcp6 := header + strings.Join([]string{
		procLine(ip("::"), 80, "0A"),
		procLine(ip("2001:db8::1"), 23, "0A"),
		procLine(ip("::ffff:198.51.100.1"), 8080, "0A"),
	}, "\n")
	l := Listeners{}
	if err := ParseProcNetTCP([]byte(tcp), false, l); err != nil {
		t.Fatal(err)
	}
	if err := ParseProcNetTCP([]byte(tcp6), true, l); err != nil {
		t.Fatal(err)
	}
	want := Listeners{
		IPv4: {22: {ip("0.0.0.0")}, 53: {ip("127.0.0.1")}, 23: {ip("192.0.2.1")}, 80: {ip("0.0.0.0")}, 8080: {ip("198.51.100.1")}},
		IPv6: {80: {ip("::")}, 23: {ip("2001:db8::1")}},
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got %v\nwant %v", l, want)
	}
	if err := ParseProcNetTCP([]byte(header+"   0: 0100007F:XYZ 00000000:0000 0A"), false, Listeners{}); err == nil {
		t.Error("bad port accepted")
	}
}

// TestProcAddrLittleEndian pins a line as a little-endian kernel prints it.
func TestProcAddrLittleEndian(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("big-endian machine")
	}
	a, err := procAddr("0100007F")
	if err != nil || a != ip("127.0.0.1") {
		t.Fatalf("%v %v", a, err)
	}
	a, err = procAddr("B80D0120000000000000000001000000")
	if err != nil || a != ip("2001:db8::1") {
		t.Fatalf("%v %v", a, err)
	}
}
