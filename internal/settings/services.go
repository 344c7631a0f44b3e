package settings

// Kind is the protocol a fake service speaks.
type Kind string

// The protocols of the minipots.
const (
	Telnet Kind = "telnet"
	HTTP   Kind = "http"
	Proxy  Kind = "proxy"
	FTP    Kind = "ftp"
	SMTP   Kind = "smtp"
	SSH    Kind = "ssh"
)

// Service is one minipot: a service key of package ucollect, the real port
// attackers aim at, and what the fake on port+offset pretends to be.
type Service struct {
	Key         string // "23tcp", as in ucollect.fakes.disable
	Port        int    // the real port
	Kind        Kind   // the protocol
	Server      string // the real server it passes for; picks the handler
	Label       string // what a person calls it
	Description string // one sentence for the pages and docs
}

// The servers the fakes pass for: each names one handler in the agent
// (cmd/minipot's handler table), which must know every one of them.
const (
	BusyBoxTelnetd = "busybox-telnetd"
	Nginx          = "nginx"
	Squid          = "squid"
	Polipo         = "polipo"
	Vsftpd         = "vsftpd"
	Postfix        = "postfix"
	Dropbear       = "dropbear"
)

// services is the one table of minipots (DESIGN.md's, in Go): the agent
// picks handlers from it, the firewall makes rules from it, the API serves
// it, and tests hold openapi.json and the docs to it. A new minipot is one
// entry here and its handler. Services returns a copy so no caller can
// change it.
var services = [...]Service{
	{"23tcp", 23, Telnet, BusyBoxTelnetd, "Telnet 23", "BusyBox telnetd as on routers and cameras; every login is incorrect"},
	{"2323tcp", 2323, Telnet, BusyBoxTelnetd, "Telnet 2323", "the same telnetd on the port Mirai-family bots try second"},
	{"80tcp", 80, HTTP, Nginx, "HTTP 80", "nginx asking for a password (401 Basic)"},
	{"3128tcp", 3128, Proxy, Squid, "Squid proxy 3128", "Squid asking for a proxy password (407); never connects anywhere"},
	{"8080tcp", 8080, Proxy, Squid, "HTTP proxy 8080", "Squid on the alternative proxy port (407); never connects anywhere"},
	{"8123tcp", 8123, Proxy, Polipo, "Polipo proxy 8123", "Polipo asking for a proxy password (407); never connects anywhere"},
	{"21tcp", 21, FTP, Vsftpd, "FTP 21", "vsftpd 3.0.3; every login is incorrect, no data connection is ever opened"},
	{"22tcp", 22, SSH, Dropbear, "SSH 22", "Dropbear as OpenWrt ships it; every password and key is refused, no shell"},
	{"25tcp", 25, SMTP, Postfix, "SMTP 25", "Postfix refusing relay and every AUTH; never accepts a message"},
	{"587tcp", 587, SMTP, Postfix, "SMTP submission 587", "Postfix submission port refusing every AUTH; never accepts a message"},
}

// Services lists every known service in a fixed order.
func Services() []Service {
	out := make([]Service, len(services))
	copy(out, services[:])
	return out
}

// LookupService finds a service by key.
func LookupService(key string) (Service, bool) {
	for _, s := range services {
		if s.Key == key {
			return s, true
		}
	}
	return Service{}, false
}
