package settings

// Kind is how a fake service behaves.
type Kind string

const (
	Telnet Kind = "telnet"
	HTTP   Kind = "http"
	Proxy  Kind = "proxy"
)

// Service is one minipot: a service key of package ucollect, the real port
// attackers aim at, and what the fake on port+offset pretends to be.
type Service struct {
	Key   string // "23tcp", as in ucollect.fakes.disable
	Port  int    // the real port
	Kind  Kind
	Label string // what a person calls it
}

// services is the fixed table of DESIGN.md; Services returns a copy so no
// caller can change it.
var services = [...]Service{
	{"23tcp", 23, Telnet, "Telnet 23"},
	{"2323tcp", 2323, Telnet, "Telnet 2323"},
	{"80tcp", 80, HTTP, "HTTP 80"},
	{"3128tcp", 3128, Proxy, "Squid proxy 3128"},
	{"8080tcp", 8080, Proxy, "HTTP proxy 8080"},
	{"8123tcp", 8123, Proxy, "Polipo proxy 8123"},
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
