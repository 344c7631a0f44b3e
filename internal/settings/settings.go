// Package settings is the typed model of UCI package ucollect: the options
// that Turris's ucollect-era tools wrote (section fakes) and minipot's own
// sections (agent, limits, store, firewall, export). Every option has a default, a
// parser, a validity range, and a UCI path that is used as the field name in
// errors.
package settings

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/uci"
)

// Package is the UCI package (file /etc/config/ucollect).
const Package = "ucollect"

// Settings is everything minipot reads from package ucollect.
type Settings struct {
	Enabled        bool     // fakes.enabled: master switch
	LogCredentials bool     // fakes.log_credentials
	Disabled       []string // fakes.disable: service keys switched off (sorted, unique)
	RedirOffset    int      // fakes.redir_offset: fake port = real port + offset
	MarkMask       uint32   // fakes.mark_mask: the two mark bits the firewall may use

	Agent    Agent
	Limits   Limits
	Store    Store
	Firewall Firewall
	Export   Export
	API      API
}

// API holds section api: where the control API answers besides its unix
// socket. It is read when `minipot api` starts (a change applies at its
// restart); the command's --listen and --token-file win over it.
type API struct {
	Listen    string // loopback host:port for TCP with a bearer token; "": the unix socket only
	TokenFile string // the token's file, created (mode 0600) if missing when Listen is set
}

// Agent holds section agent: how the fakes present themselves.
type Agent struct {
	Listen     string        // address the fakes bind ("" or "0.0.0.0": all IPv4, "::": all)
	Hostname   string        // shown in telnet prompts, HTTP realms and the SMTP greeting
	LoginDelay time.Duration // before "Login incorrect"
	Attempts   int           // login attempts per telnet, FTP or SSH connection
	LogLevel   string        // zerolog level: debug, info, warn, error
	HostKeys   string        // folder of the SSH fake's host keys; "": the store's folder
}

// Limits holds section limits: what attackers may cost.
type Limits struct {
	MaxConns  int           // connections open at once, all services
	MaxPerIP  int           // connections open at once from one address
	MaxPerNet int           // connections open at once from one /24 (IPv4) or /48 (IPv6)
	Idle      time.Duration // longest silence before a connection is closed
	Session   time.Duration // longest life of a connection
	// LoginTimeout is the longest a connection may take over one login
	// attempt (from the connection or the previous attempt), as BusyBox
	// login's 60 s; HeaderTimeout the same for an HTTP request's headers
	// (nginx's client_header_timeout). The idle timeout alone lets a
	// client sending a byte now and then hold a slot for the whole session.
	LoginTimeout  time.Duration
	HeaderTimeout time.Duration
	LineMax       int // bytes of a telnet line, an FTP or SMTP command line
	RequestLine   int // bytes of an HTTP request line: exploit URLs are long
	HeaderBytes   int // bytes of all headers of one HTTP request
	HeaderCount   int // headers of one HTTP request
	BodyMax       int // largest HTTP body skipped on a kept-alive connection
	BodyExcerpt   int // bytes of a request body recorded
	Requests      int // HTTP requests per kept-alive connection
	// SSHHandshakes is how many SSH connections may be in their key
	// exchange or login at once (0: 30, Dropbear's MAX_UNAUTH_CLIENTS):
	// each costs a key exchange, milliseconds of a router's CPU.
	SSHHandshakes int
}

// Store holds section store: the event database.
type Store struct {
	Path    string        // SQLite file
	MaxAge  time.Duration // events older than this are deleted; 0 keeps them
	MaxRows int           // at most this many events are kept; 0 = no bound
	MaxSize int           // MiB of all the store's files (store.Budget); 0 = no bound
	Queue   int           // events waiting to be written; more are dropped and counted
}

// Firewall holds section firewall: how the redirect rules are installed.
type Firewall struct {
	Backend    string   // auto, nftables, iptables-nft or iptables-legacy (nft, legacy): which firewall holds the rules
	WANDevices []string // devices facing the internet; empty: from the OpenWrt zone WANZone
	WANZone    string   // name of the OpenWrt firewall zone facing the internet
	IPv6       bool     // redirect IPv6 too (needs the ip6tables nat table)
}

// Export holds section export: the fleet exporter (`minipot export`) that
// publishes stored events to an MQTT broker, and the owner's webhook alerts.
type Export struct {
	Enabled      bool          // publish to Broker
	Broker       string        // mqtts://host:port (mqtt:// only for loopback tests)
	TopicPrefix  string        // topics are <prefix>/v1/<sensor>/events
	SensorID     string        // "" : a random id generated once and kept
	CAFile       string        // PEM CA the broker's certificate must chain to; "": system roots
	CertFile     string        // optional client certificate (PEM)
	KeyFile      string        // its key
	AuthFile     string        // optional "username\npassword" file, readable by its owner only
	BatchSize    int           // events in flight at most (one batch)
	Interval     time.Duration // how often an idle exporter looks for new events
	Rate         int           // events per second at most
	Credentials  bool          // export usernames and passwords (also needs fakes.log_credentials)
	WebhookURL   string        // http(s) URL for alerts; "": no alerts
	WebhookRate  int           // webhook POSTs per minute at most
	WebhookLogin bool          // alert on login attempts too, not only on new addresses
}

// Defaults are the values of an empty file: fit for a router with 256 MB
// of RAM, as on the Turris Omnia.
func Defaults() Settings {
	return Settings{
		Enabled:     true,
		RedirOffset: 1369,
		MarkMask:    0xC0000,
		Agent: Agent{
			Hostname:   "OpenWrt",
			LoginDelay: 3 * time.Second,
			Attempts:   3,
			LogLevel:   "info",
		},
		Limits: Limits{
			MaxConns:      512,
			MaxPerIP:      16,
			MaxPerNet:     64,
			Idle:          60 * time.Second,
			Session:       5 * time.Minute,
			LoginTimeout:  60 * time.Second,
			HeaderTimeout: 60 * time.Second,
			LineMax:       512,
			RequestLine:   8192,
			HeaderBytes:   8192,
			HeaderCount:   64,
			BodyMax:       1 << 20,
			BodyExcerpt:   512,
			Requests:      100,
			SSHHandshakes: 30,
		},
		Store: Store{
			Path:    "/var/lib/minipot/events.db",
			MaxAge:  30 * 24 * time.Hour,
			MaxRows: 1000000,
			// A 128 MB router's /var is RAM: 16 MiB is an eighth of it
			// (docs/agent.md, "The store").
			MaxSize: 16,
			Queue:   8192,
		},
		Firewall: Firewall{
			Backend: "auto",
			WANZone: "wan",
			IPv6:    true,
		},
		API: API{TokenFile: "/etc/minipot/api.token"},
		Export: Export{
			TopicPrefix: "minipot",
			BatchSize:   100,
			Interval:    5 * time.Second,
			Rate:        500,
			WebhookRate: 6,
		},
	}
}

// ServiceEnabled says whether the fake of a service key should listen.
func (s Settings) ServiceEnabled(key string) bool {
	return s.Enabled && !slices.Contains(s.Disabled, key)
}

// FakePort is where the fake of a service listens.
func (s Settings) FakePort(svc Service) int { return svc.Port + s.RedirOffset }

// FieldError is one invalid option, named by its UCI path (fakes.redir_offset).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors lists every invalid option of a document.
type Errors []FieldError

func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid settings: " + strings.Join(parts, "; ")
}

// Validate checks every field and returns Errors naming each bad one.
func (s Settings) Validate() error {
	var errs Errors
	for _, f := range fields {
		if msg := f.check(&s); msg != "" {
			errs = append(errs, FieldError{f.path(), msg})
		}
	}
	for _, key := range s.Disabled {
		if _, ok := LookupService(key); !ok {
			errs = append(errs, FieldError{"fakes.disable", fmt.Sprintf("unknown service %q (known: %s)", key, serviceKeys())})
		}
	}
	for _, dev := range s.Firewall.WANDevices {
		if !ValidDevice(dev) {
			errs = append(errs, FieldError{"firewall.wan_devices", fmt.Sprintf("%q is not a network device name (1-15 characters, no '/', ':' or spaces; '+' only at the end)", dev)})
		}
	}
	for _, svc := range services {
		if p := s.FakePort(svc); s.RedirOffset > 0 && (p < 1025 || p > 65535) {
			errs = append(errs, FieldError{"fakes.redir_offset",
				fmt.Sprintf("puts the fake of %s on port %d, outside 1025-65535", svc.Key, p)})
			break
		}
	}
	if s.Export.Enabled && s.Export.Broker == "" {
		errs = append(errs, FieldError{"export.broker", "must be set when export.enabled is on (e.g. mqtts://collector.example.net:8883)"})
	}
	if (s.Export.CertFile == "") != (s.Export.KeyFile == "") {
		errs = append(errs, FieldError{"export.key_file", "export.cert_file and export.key_file go together"})
	}
	if n := bits.OnesCount32(s.MarkMask); n != 2 {
		errs = append(errs, FieldError{"fakes.mark_mask", fmt.Sprintf("must have exactly two bits set, has %d", n)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func serviceKeys() string {
	keys := make([]string, len(services))
	for i, s := range services {
		keys[i] = s.Key
	}
	return strings.Join(keys, " ")
}

// FromPackage reads settings from a parsed package: defaults for what is
// missing, Errors for what cannot be parsed or is out of range.
func FromPackage(p *uci.Package) (Settings, error) {
	s := Defaults()
	var errs Errors
	for _, f := range fields {
		sec := p.Section(f.section)
		if sec == nil {
			continue
		}
		if err := f.read(sec, &s); err != nil {
			errs = append(errs, FieldError{f.path(), err.Error()})
		}
	}
	if err := s.Validate(); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	if len(errs) > 0 {
		return s, errs
	}
	return s, nil
}

// Load reads package ucollect from a config directory. A missing file gives
// the defaults.
func Load(dir uci.Dir) (Settings, error) {
	p, err := dir.Load(Package)
	if err != nil {
		return Settings{}, fmt.Errorf("load %s: %w", Package, err)
	}
	return FromPackage(p)
}

// Apply writes into p the options whose value differs from what p holds
// now, creating a section only when it needs one. Everything else in p —
// other sections, other options, comments' absence, order — stays as it is.
func (s Settings) Apply(p *uci.Package) error {
	if err := s.Validate(); err != nil {
		return err
	}
	old, _ := FromPackage(p) // invalid old values are simply replaced
	for _, f := range fields {
		if f.format(&old) == f.format(&s) {
			continue
		}
		sec := p.Section(f.section)
		if sec == nil {
			sec = p.AddSection(f.section, f.section)
		}
		f.write(sec, &s)
	}
	return nil
}

// Save validates s and writes the options that changed into the file,
// atomically and under the package lock.
func Save(dir uci.Dir, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return dir.Update(Package, s.Apply)
}

// normalize sorts and de-duplicates the disable list so that comparisons
// and the written file do not depend on the order options were given in.
func normalize(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	return slices.Compact(out)
}

// Digest is the sha256 (hex) of a settings file's bytes ("" hashes a
// missing file). The agent reports the digest of the file it applied and
// the API uses it as the file's ETag, so "applied" is one comparison.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// LoadDigest is Load that also returns the Digest of the bytes it read.
// The file is read under libuci's shared lock.
func LoadDigest(dir uci.Dir) (Settings, string, error) {
	s, digest, _, err := LoadFile(dir)
	return s, digest, err
}

// LoadFile is LoadDigest that also returns the file's Warnings: what the
// agent logs when it loads the file.
func LoadFile(dir uci.Dir) (s Settings, digest string, warnings Errors, err error) {
	data, err := dir.ReadFile(Package)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Settings{}, "", nil, fmt.Errorf("read settings: %w", err)
	}
	digest = Digest(data)
	p, err := uci.Parse(Package, data)
	if err != nil {
		return Settings{}, digest, nil, fmt.Errorf("%s/%s: %w", dir.Path, Package, err)
	}
	warnings = Warnings(p)
	s, err = FromPackage(p)
	if err != nil {
		return s, digest, warnings, fmt.Errorf("%s/%s: %w", dir.Path, Package, err)
	}
	return s, digest, warnings, nil
}
