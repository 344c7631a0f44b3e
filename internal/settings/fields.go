package settings

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/uci"
)

// field describes one UCI option: where it lives, which Settings field it
// fills, and its valid range. One table drives reading, writing, validation
// and the option reference in docs, so they cannot drift apart.
type field struct {
	section, option string
	ref             func(*Settings) any // pointer to the Settings field
	min, max        int64               // range for ints and durations (max 0: none)
	doc             string
	valid           func(string) string // for a string: why a value is not valid, or ""
}

func (f field) path() string { return f.section + "." + f.option }

var fields = []field{
	{"fakes", "enabled", func(s *Settings) any { return &s.Enabled }, 0, 0, "master switch of data collection by the minipots", nil},
	{"fakes", "log_credentials", func(s *Settings) any { return &s.LogCredentials }, 0, 0, "store usernames and passwords too", nil},
	{"fakes", "disable", func(s *Settings) any { return &s.Disabled }, 0, 0, "list of service keys switched off", nil},
	{"fakes", "redir_offset", func(s *Settings) any { return &s.RedirOffset }, 1, 65535, "a fake listens on its real port plus this", nil},
	{"fakes", "mark_mask", func(s *Settings) any { return &s.MarkMask }, 0, 0, "the two packet-mark bits the firewall rules may use", nil},

	{"agent", "listen", func(s *Settings) any { return &s.Agent.Listen }, 0, 0, "address the fakes bind; empty: all addresses", nil},
	{"agent", "hostname", func(s *Settings) any { return &s.Agent.Hostname }, 1, 63, "host name shown in telnet prompts, HTTP realms and the SMTP greeting", func(v string) string {
		if !validHostname(v) {
			return fmt.Sprintf("%q is not a host name (letters, digits, '-' and '.')", v)
		}
		return ""
	}},
	{"agent", "login_delay", func(s *Settings) any { return &s.Agent.LoginDelay }, 0, int64(30 * time.Second), "wait before answering Login incorrect", nil},
	{"agent", "attempts", func(s *Settings) any { return &s.Agent.Attempts }, 1, 100, "login attempts per telnet, FTP or SSH connection", nil},
	{"agent", "host_keys", func(s *Settings) any { return &s.Agent.HostKeys }, 0, 4096, "folder of the SSH fake's host keys; empty: the folder of store.path", nil},
	{"agent", "log_level", func(s *Settings) any { return &s.Agent.LogLevel }, 0, 0, "debug, info, warn or error", oneOf("debug", "info", "warn", "error")},

	{"limits", "max_connections", func(s *Settings) any { return &s.Limits.MaxConns }, 1, 1 << 20, "connections open at once, all services", nil},
	{"limits", "max_per_ip", func(s *Settings) any { return &s.Limits.MaxPerIP }, 1, 1 << 20, "connections open at once from one address", nil},
	{"limits", "max_per_network", func(s *Settings) any { return &s.Limits.MaxPerNet }, 1, 1 << 20, "connections open at once from one /24 (IPv4) or /48 (IPv6)", nil},
	{"limits", "idle_timeout", func(s *Settings) any { return &s.Limits.Idle }, int64(time.Second), int64(time.Hour), "close a connection silent this long", nil},
	{"limits", "session_timeout", func(s *Settings) any { return &s.Limits.Session }, int64(time.Second), int64(24 * time.Hour), "close a connection open this long", nil},
	{"limits", "login_timeout", func(s *Settings) any { return &s.Limits.LoginTimeout }, int64(time.Second), int64(time.Hour), "close a connection that takes longer over one login attempt", nil},
	{"limits", "header_timeout", func(s *Settings) any { return &s.Limits.HeaderTimeout }, int64(time.Second), int64(time.Hour), "close a connection that takes longer to send one HTTP request's headers", nil},
	{"limits", "line_max", func(s *Settings) any { return &s.Limits.LineMax }, 64, 1 << 16, "bytes of a telnet line, an FTP or SMTP command line", nil},
	{"limits", "request_line_max", func(s *Settings) any { return &s.Limits.RequestLine }, 64, 1 << 16, "bytes of an HTTP request line", nil},
	{"limits", "header_bytes", func(s *Settings) any { return &s.Limits.HeaderBytes }, 256, 1 << 20, "bytes of all headers of one HTTP request", nil},
	{"limits", "header_count", func(s *Settings) any { return &s.Limits.HeaderCount }, 1, 1024, "headers of one HTTP request", nil},
	{"limits", "body_max", func(s *Settings) any { return &s.Limits.BodyMax }, 0, 1 << 30, "largest HTTP request body skipped on a kept-alive connection", nil},
	{"limits", "body_excerpt", func(s *Settings) any { return &s.Limits.BodyExcerpt }, 0, 1024, "bytes of a request body recorded", nil},
	{"limits", "requests", func(s *Settings) any { return &s.Limits.Requests }, 1, 1 << 20, "HTTP requests per kept-alive connection", nil},
	{"limits", "ssh_handshakes", func(s *Settings) any { return &s.Limits.SSHHandshakes }, 0, 1 << 10, "SSH connections in their key exchange or login at once (0: 30, as Dropbear); more are closed at once", nil},

	{"store", "path", func(s *Settings) any { return &s.Store.Path }, 1, 4096, "SQLite file of the events", nil},
	{"store", "max_age", func(s *Settings) any { return &s.Store.MaxAge }, 0, 0, "delete events older than this (0: keep)", nil},
	{"store", "max_rows", func(s *Settings) any { return &s.Store.MaxRows }, 0, 1 << 31, "keep at most this many events (0: no bound)", nil},
	{"store", "max_size", func(s *Settings) any { return &s.Store.MaxSize }, 0, 1 << 16, "MiB of every file of the store, statistics included (0: no bound)", nil},
	{"store", "queue", func(s *Settings) any { return &s.Store.Queue }, 16, 1 << 20, "events waiting to be written; more are dropped and counted", nil},

	{"firewall", "backend", func(s *Settings) any { return &s.Firewall.Backend }, 1, 16, "which firewall holds the redirect rules: auto, nftables, iptables-nft or iptables-legacy (nft and legacy: old names of the iptables ones)", oneOf("auto", "nftables", "iptables-nft", "iptables-legacy", "nft", "legacy")},
	{"firewall", "wan_devices", func(s *Settings) any { return &s.Firewall.WANDevices }, 0, 0, "devices facing the internet; empty: those of the OpenWrt zone", nil},
	{"firewall", "wan_zone", func(s *Settings) any { return &s.Firewall.WANZone }, 1, 11, "the OpenWrt firewall zone facing the internet", func(v string) string {
		if !validZone(v) {
			return fmt.Sprintf("%q is not a zone name (letters, digits and '_')", v)
		}
		return ""
	}},
	{"firewall", "ipv6", func(s *Settings) any { return &s.Firewall.IPv6 }, 0, 0, "redirect IPv6 connections too (needs ip6tables nat)", nil},

	{"export", "enabled", func(s *Settings) any { return &s.Export.Enabled }, 0, 0, "publish stored events to the MQTT broker", nil},
	{"export", "broker", func(s *Settings) any { return &s.Export.Broker }, 0, 512, "MQTT broker URL, mqtts://host:port", exportCheck("broker")},
	{"export", "topic_prefix", func(s *Settings) any { return &s.Export.TopicPrefix }, 1, 64, "first topic level: <prefix>/v1/<sensor>/events", exportCheck("topic_prefix")},
	{"export", "sensor_id", func(s *Settings) any { return &s.Export.SensorID }, 0, 64, "this router's name at the collector; empty: random, generated once", exportCheck("sensor_id")},
	{"export", "ca_file", func(s *Settings) any { return &s.Export.CAFile }, 0, 4096, "PEM CA certificates the broker must chain to; empty: the system's", nil},
	{"export", "cert_file", func(s *Settings) any { return &s.Export.CertFile }, 0, 4096, "client certificate (PEM), optional", nil},
	{"export", "key_file", func(s *Settings) any { return &s.Export.KeyFile }, 0, 4096, "client certificate's key (PEM)", nil},
	{"export", "auth_file", func(s *Settings) any { return &s.Export.AuthFile }, 0, 4096, "file with the username on line 1 and the password on line 2, optional", nil},
	{"export", "batch_size", func(s *Settings) any { return &s.Export.BatchSize }, 1, 1000, "events published before waiting for every acknowledgement", nil},
	{"export", "interval", func(s *Settings) any { return &s.Export.Interval }, int64(100 * time.Millisecond), int64(time.Hour), "how often an idle exporter looks for new events", nil},
	{"export", "rate", func(s *Settings) any { return &s.Export.Rate }, 1, 1 << 20, "events published per second at most", nil},
	{"export", "credentials", func(s *Settings) any { return &s.Export.Credentials }, 0, 0, "export usernames and passwords (needs fakes.log_credentials too)", nil},
	{"export", "webhook_url", func(s *Settings) any { return &s.Export.WebhookURL }, 0, 2048, "http(s) URL that alerts are POSTed to; empty: no alerts", exportCheck("webhook_url")},
	{"export", "webhook_rate", func(s *Settings) any { return &s.Export.WebhookRate }, 1, 600, "webhook POSTs per minute at most", nil},
	{"export", "webhook_login", func(s *Settings) any { return &s.Export.WebhookLogin }, 0, 0, "alert on every login attempt, not only on new addresses", nil},

	{"api", "listen", func(s *Settings) any { return &s.API.Listen }, 0, 64, "loopback address and port where the control API (and its page) also answers over TCP, with the bearer token of token_file; empty: its unix socket only", LoopbackListen},
	{"api", "token_file", func(s *Settings) any { return &s.API.TokenFile }, 1, 4096, "file of the bearer token for api.listen, created with a random token (mode 0600) if missing", func(v string) string {
		if !strings.HasPrefix(v, "/") {
			return fmt.Sprintf("%q is not an absolute path", v)
		}
		return ""
	}},
}

// LoopbackListen says why addr is not a loopback host:port the control
// API may listen on over TCP, or "" for one (or empty: no TCP). TCP is
// open to every local program, so never another address.
func LoopbackListen(addr string) string {
	if addr == "" {
		return ""
	}
	// The port is the listener's to check (0, any free one, serves tests).
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Sprintf("%q: only a loopback address (127.0.0.1, ::1) is allowed", addr)
	}
	return ""
}

// legacyOptions are options of minipot's sections that Turris's
// ucollect-era tools and scripts wrote and minipot does not read: they
// are accepted silently, not warned about.
var legacyOptions = map[string][]string{
	// Turris-era scripts switch services on with `uci del_list
	// ucollect.fakes.enable=23tcp`; minipot follows fakes.disable only.
	"fakes": {"enable"},
}

// Warnings names every option that minipot's own sections (the section
// types of the fields table: fakes, agent, limits...) hold and minipot does
// not read, by section.option: a typo (store.max_sise) is never applied,
// and the owner should learn it. Sections of other types belong to other
// tools (Turris's ucollect wrote uplink, plugin...) and are not looked at,
// nor are the Turris-era options of legacyOptions. A warning stops
// nothing: the rest of the file applies.
func Warnings(p *uci.Package) Errors {
	known := map[string][]string{}
	for _, f := range fields {
		known[f.section] = append(known[f.section], f.option)
	}
	var warns Errors
	for i, sec := range p.Sections {
		if _, own := known[sec.Type]; !own {
			continue
		}
		// FromPackage reads a section by its name (fields' section).
		opts, read := known[sec.Name]
		if !read || sec.Anonymous {
			name := sec.Name
			if sec.Anonymous {
				name = fmt.Sprintf("@%s[%d]", sec.Type, typeIndex(p, i))
			}
			warns = append(warns, FieldError{name, fmt.Sprintf("a %s section that minipot does not read: it reads the section named %q (config %s '%s') only", sec.Type, sec.Type, sec.Type, sec.Type)})
			continue
		}
		for _, o := range sec.Options {
			if slices.Contains(opts, o.Name) || slices.Contains(legacyOptions[sec.Name], o.Name) {
				continue
			}
			msg := "unknown option, ignored"
			if near := nearest(o.Name, opts); near != "" {
				msg += fmt.Sprintf(" (did you mean %s.%s?)", sec.Name, near)
			}
			warns = append(warns, FieldError{sec.Name + "." + o.Name, msg})
		}
	}
	return warns
}

// typeIndex is the index of section i among the sections of its type, as
// uci's @type[index] counts.
func typeIndex(p *uci.Package, i int) int {
	n := 0
	for _, s := range p.Sections[:i] {
		if s.Type == p.Sections[i].Type {
			n++
		}
	}
	return n
}

// nearest is the word of words at edit distance at most 2 from w (the
// first, on a tie), or "".
func nearest(w string, words []string) string {
	best, bestD := "", 3
	for _, c := range words {
		if d := editDistance(w, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is Levenshtein's distance of two option names (short).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneOf accepts the given words only.
func oneOf(words ...string) func(string) string {
	return func(v string) string {
		if slices.Contains(words, v) {
			return ""
		}
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(words, ", "))
	}
}

// read parses the option from a section into s; a missing option keeps s's
// value (the default).
func (f field) read(sec *uci.Section, s *Settings) error {
	if l, ok := f.ref(s).(*[]string); ok {
		if vals := sec.List(f.option); vals != nil {
			*l = normalize(vals)
		}
		return nil
	}
	v, ok := sec.Get(f.option)
	if !ok {
		return nil
	}
	return f.parse(v, s)
}

// parse reads a plain option's UCI text into s.
func (f field) parse(v string, s *Settings) error {
	switch p := f.ref(s).(type) {
	case *bool:
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *uint32:
		n, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
		if err != nil {
			return fmt.Errorf("%q is not a 32-bit number (e.g. 0xC0000)", v)
		}
		*p = uint32(n)
	case *time.Duration:
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	case *string:
		*p = v
	}
	return nil
}

// check returns why the field's value in s is out of range, or "".
func (f field) check(s *Settings) string {
	switch p := f.ref(s).(type) {
	case *int:
		if int64(*p) < f.min || (f.max > 0 && int64(*p) > f.max) {
			return fmt.Sprintf("%d is outside %d-%d", *p, f.min, f.max)
		}
	case *time.Duration:
		if int64(*p) < f.min || (f.max > 0 && int64(*p) > f.max) {
			return fmt.Sprintf("%s is outside %s-%s", FormatDuration(*p), FormatDuration(time.Duration(f.min)), FormatDuration(time.Duration(f.max)))
		}
		if *p%time.Millisecond != 0 {
			return "must be a whole number of milliseconds"
		}
	case *string:
		if len(*p) < int(f.min) || (f.max > 0 && len(*p) > int(f.max)) {
			return fmt.Sprintf("must be %d to %d bytes long", f.min, f.max)
		}
		if strings.ContainsAny(*p, "\x00\r\n") {
			return "must not contain control line characters"
		}
		if f.valid != nil {
			return f.valid(*p)
		}
	}
	return ""
}

// format is the option's value as written to the file.
func (f field) format(s *Settings) string {
	switch p := f.ref(s).(type) {
	case *bool:
		if *p {
			return "1"
		}
		return "0"
	case *int:
		return strconv.Itoa(*p)
	case *uint32:
		return fmt.Sprintf("0x%X", *p)
	case *time.Duration:
		return FormatDuration(*p)
	case *string:
		return *p
	case *[]string:
		return strings.Join(normalize(*p), " ")
	}
	return ""
}

// write sets the option in sec to s's value.
func (f field) write(sec *uci.Section, s *Settings) {
	if l, ok := f.ref(s).(*[]string); ok {
		if len(*l) == 0 {
			sec.Delete(f.option)
		} else {
			sec.SetList(f.option, normalize(*l))
		}
		return
	}
	if v := f.format(s); v == "" {
		sec.Delete(f.option) // libuci drops empty values anyway
	} else {
		sec.Set(f.option, v)
	}
}

func validZone(z string) bool {
	for _, r := range z {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return z != ""
}

// ValidDevice says whether name can be given to iptables -i: a Linux
// interface name (1-15 bytes, no '/', ':' or white space, not "." or "..")
// that may end in '+', iptables' wildcard for every name with that prefix.
func ValidDevice(name string) bool {
	base := strings.TrimSuffix(name, "+")
	if len(name) == 0 || len(name) > 15 || base == "." || base == ".." || strings.Contains(base, "+") {
		return false
	}
	for _, r := range base {
		if r <= ' ' || r > '~' || r == '/' || r == ':' || r == '!' || r == '"' || r == '\'' || r == '\\' {
			return false
		}
	}
	return true
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "enabled":
		return true, nil
	case "0", "false", "no", "off", "disabled":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1 or 0)", v)
}

func validHostname(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return h != ""
}

// ParseDuration reads a UCI duration: a whole number of seconds, or a whole
// number with one unit of ms, s, m, h or d ("1500ms", "30s", "30d").
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	unit := time.Second
	num := v
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			unit, num = u.d, strings.TrimSuffix(v, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > int64(1<<62)/int64(unit) {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 1500ms, 7d)", v)
	}
	return time.Duration(n) * unit, nil
}

// FormatDuration writes d with the largest unit that divides it exactly.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.suffix
		}
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Option is one option of the fields table with its value in a Settings, as
// other packages see it: the API's settings document and change list are
// made from these, so they follow the table.
type Option struct {
	Section, Name string
	Doc           string
	List          bool     // a UCI list: Items holds its values
	Value         string   // as UCI writes it (a list: its items joined by spaces)
	Items         []string // a list's values
}

// Path is the option's UCI path, "limits.idle_timeout".
func (o Option) Path() string { return o.Section + "." + o.Name }

// Options lists every option of the table, in its order, with s's values.
func (s Settings) Options() []Option {
	out := make([]Option, len(fields))
	for i, f := range fields {
		o := Option{Section: f.section, Name: f.option, Doc: f.doc, Value: f.format(&s)}
		if l, ok := f.ref(&s).(*[]string); ok {
			o.List, o.Items = true, normalize(*l)
		}
		out[i] = o
	}
	return out
}

// SetOption parses an option's value given as UCI text (a list as its
// items) into s, as reading the file would; the error says why the text
// does not parse. Ranges are checked by Validate.
func (s *Settings) SetOption(path string, items ...string) error {
	for _, f := range fields {
		if f.path() != path {
			continue
		}
		if l, ok := f.ref(s).(*[]string); ok {
			*l = normalize(items)
			return nil
		}
		if len(items) != 1 {
			return fmt.Errorf("takes one value, not %d", len(items))
		}
		return f.parse(items[0], s)
	}
	return fmt.Errorf("unknown option %s", path)
}
