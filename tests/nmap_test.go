package tests

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestNmapFingerprint: `nmap -sV` names each fake as it names the real
// service in ../shared/reference (measured against BusyBox telnetd, nginx
// and Squid on this kind of machine).
func TestNmapFingerprint(t *testing.T) {
	nmap := need(t, "nmap")
	a := startAgent(t, nil)
	out, err := run(t, 3*time.Minute, nmap, "-sV", "-Pn", "-n", "-p", "1392,1449,4497", a.Host)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	// Each reference file holds one "PORT STATE SERVICE VERSION" row; the
	// fake must get the same SERVICE and VERSION on its own port.
	for file, port := range map[string]string{
		"nmap-busybox-telnetd.txt": "1392",
		"nmap-nginx.txt":           "1449",
		"nmap-squid.txt":           "4497",
	} {
		ref, err := os.ReadFile("../../shared/reference/" + file)
		if err != nil {
			if inCI() {
				t.Fatalf("reference: %v", err)
			}
			t.Skipf("needs ../shared/reference: %v", err)
		}
		want := regexp.MustCompile(`(?m)^\d+/tcp\s+open\s+(.+)$`).FindStringSubmatch(string(ref))
		if want == nil {
			t.Fatalf("no service row in %s", file)
		}
		row := regexp.MustCompile(`(?m)^` + port + `/tcp\s+open\s+(.+)$`).FindStringSubmatch(out)
		if row == nil || strings.Join(strings.Fields(row[1]), " ") != strings.Join(strings.Fields(want[1]), " ") {
			t.Errorf("port %s: nmap says %q, the real service %q\n%s", port, row, want[1], out)
		}
	}
	if !strings.Contains(out, "Host: OpenWrt") {
		t.Errorf("nmap did not read the host name from the telnet banner:\n%s", out)
	}
}

// TestNmapNewServices: `nmap -sV` names the FTP, SMTP and SSH fakes as the
// servers they pass for, with nmap's own probes (no real vsftpd, Postfix
// or Dropbear runs on this machine to measure: the rows are what nmap's
// service database says for their banners).
func TestNmapNewServices(t *testing.T) {
	nmap := need(t, "nmap")
	a := startAgent(t, nil)
	want := map[string]string{
		"21tcp":  "ftp vsftpd 3.0.3",
		"22tcp":  "ssh Dropbear sshd 2022.82 (protocol 2.0)",
		"25tcp":  "smtp Postfix smtpd",
		"587tcp": "smtp Postfix smtpd",
	}
	var ports []string
	for key := range want {
		ports = append(ports, fmt.Sprint(fakePorts[key]))
	}
	out, err := run(t, 3*time.Minute, nmap, "-sV", "-Pn", "-n", "-p", strings.Join(ports, ","), a.Host)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	for key, w := range want {
		row := regexp.MustCompile(`(?m)^` + fmt.Sprint(fakePorts[key]) + `/tcp\s+open\s+(.+)$`).FindStringSubmatch(out)
		if row == nil || strings.Join(strings.Fields(row[1]), " ") != w {
			t.Errorf("%s: nmap says %q, want %q\n%s", key, row, w, out)
		}
	}
	if strings.Contains(out, "unknown") || strings.Contains(out, "honeypot") {
		t.Errorf("nmap is not fooled:\n%s", out)
	}
}
