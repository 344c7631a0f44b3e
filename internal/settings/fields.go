package settings

import (
	"fmt"
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
}

func (f field) path() string { return f.section + "." + f.option }

var fields = []field{
	{"fakes", "enabled", func(s *Settings) any { return &s.Enabled }, 0, 0, "master switch of data collection by the minipots"},
	{"fakes", "log_credentials", func(s *Settings) any { return &s.LogCredentials }, 0, 0, "store usernames and passwords too"},
	{"fakes", "disable", func(s *Settings) any { return &s.Disabled }, 0, 0, "list of service keys switched off"},
	{"fakes", "redir_offset", func(s *Settings) any { return &s.RedirOffset }, 1, 65535, "a fake listens on its real port plus this"},
	{"fakes", "mark_mask", func(s *Settings) any { return &s.MarkMask }, 0, 0, "the two packet-mark bits the firewall rules may use"},

	{"agent", "listen", func(s *Settings) any { return &s.Agent.Listen }, 0, 0, "address the fakes bind; empty: all addresses"},
	{"agent", "hostname", func(s *Settings) any { return &s.Agent.Hostname }, 1, 63, "host name shown in telnet prompts and HTTP realms"},
	{"agent", "login_delay", func(s *Settings) any { return &s.Agent.LoginDelay }, 0, int64(30 * time.Second), "wait before answering Login incorrect"},
	{"agent", "attempts", func(s *Settings) any { return &s.Agent.Attempts }, 1, 100, "login attempts per telnet connection"},
	{"agent", "log_level", func(s *Settings) any { return &s.Agent.LogLevel }, 0, 0, "debug, info, warn or error"},

	{"limits", "max_connections", func(s *Settings) any { return &s.Limits.MaxConns }, 1, 1 << 20, "connections open at once, all services"},
	{"limits", "max_per_ip", func(s *Settings) any { return &s.Limits.MaxPerIP }, 1, 1 << 20, "connections open at once from one address"},
	{"limits", "idle_timeout", func(s *Settings) any { return &s.Limits.Idle }, int64(time.Second), int64(time.Hour), "close a connection silent this long"},
	{"limits", "session_timeout", func(s *Settings) any { return &s.Limits.Session }, int64(time.Second), int64(24 * time.Hour), "close a connection open this long"},
	{"limits", "line_max", func(s *Settings) any { return &s.Limits.LineMax }, 64, 1 << 16, "bytes of a telnet line"},
	{"limits", "request_line_max", func(s *Settings) any { return &s.Limits.RequestLine }, 64, 1 << 16, "bytes of an HTTP request line"},
	{"limits", "header_bytes", func(s *Settings) any { return &s.Limits.HeaderBytes }, 256, 1 << 20, "bytes of all headers of one HTTP request"},
	{"limits", "header_count", func(s *Settings) any { return &s.Limits.HeaderCount }, 1, 1024, "headers of one HTTP request"},
	{"limits", "body_max", func(s *Settings) any { return &s.Limits.BodyMax }, 0, 1 << 30, "largest HTTP request body skipped on a kept-alive connection"},
	{"limits", "body_excerpt", func(s *Settings) any { return &s.Limits.BodyExcerpt }, 0, 1024, "bytes of a request body recorded"},
	{"limits", "requests", func(s *Settings) any { return &s.Limits.Requests }, 1, 1 << 20, "HTTP requests per kept-alive connection"},

	{"store", "path", func(s *Settings) any { return &s.Store.Path }, 1, 4096, "SQLite file of the events"},
	{"store", "max_age", func(s *Settings) any { return &s.Store.MaxAge }, 0, 0, "delete events older than this (0: keep)"},
	{"store", "max_rows", func(s *Settings) any { return &s.Store.MaxRows }, 0, 1 << 31, "keep at most this many events (0: no bound)"},
	{"store", "queue", func(s *Settings) any { return &s.Store.Queue }, 16, 1 << 20, "events waiting to be written; more are dropped and counted"},

	{"firewall", "backend", func(s *Settings) any { return &s.Firewall.Backend }, 1, 16, "iptables flavour: auto, nft or legacy"},
	{"firewall", "wan_devices", func(s *Settings) any { return &s.Firewall.WANDevices }, 0, 0, "devices facing the internet; empty: those of the OpenWrt zone"},
	{"firewall", "wan_zone", func(s *Settings) any { return &s.Firewall.WANZone }, 1, 11, "the OpenWrt firewall zone facing the internet"},
	{"firewall", "ipv6", func(s *Settings) any { return &s.Firewall.IPv6 }, 0, 0, "redirect IPv6 connections too (needs ip6tables nat)"},

	{"export", "enabled", func(s *Settings) any { return &s.Export.Enabled }, 0, 0, "publish stored events to the MQTT broker"},
	{"export", "broker", func(s *Settings) any { return &s.Export.Broker }, 0, 512, "MQTT broker URL, mqtts://host:port"},
	{"export", "topic_prefix", func(s *Settings) any { return &s.Export.TopicPrefix }, 1, 64, "first topic level: <prefix>/v1/<sensor>/events"},
	{"export", "sensor_id", func(s *Settings) any { return &s.Export.SensorID }, 0, 64, "this router's name at the collector; empty: random, generated once"},
	{"export", "ca_file", func(s *Settings) any { return &s.Export.CAFile }, 0, 4096, "PEM CA certificates the broker must chain to; empty: the system's"},
	{"export", "cert_file", func(s *Settings) any { return &s.Export.CertFile }, 0, 4096, "client certificate (PEM), optional"},
	{"export", "key_file", func(s *Settings) any { return &s.Export.KeyFile }, 0, 4096, "client certificate's key (PEM)"},
	{"export", "auth_file", func(s *Settings) any { return &s.Export.AuthFile }, 0, 4096, "file with the username on line 1 and the password on line 2, optional"},
	{"export", "batch_size", func(s *Settings) any { return &s.Export.BatchSize }, 1, 1000, "events published before waiting for every acknowledgement"},
	{"export", "interval", func(s *Settings) any { return &s.Export.Interval }, int64(100 * time.Millisecond), int64(time.Hour), "how often an idle exporter looks for new events"},
	{"export", "rate", func(s *Settings) any { return &s.Export.Rate }, 1, 1 << 20, "events published per second at most"},
	{"export", "credentials", func(s *Settings) any { return &s.Export.Credentials }, 0, 0, "export usernames and passwords (needs fakes.log_credentials too)"},
	{"export", "webhook_url", func(s *Settings) any { return &s.Export.WebhookURL }, 0, 2048, "http(s) URL that alerts are POSTed to; empty: no alerts"},
	{"export", "webhook_rate", func(s *Settings) any { return &s.Export.WebhookRate }, 1, 600, "webhook POSTs per minute at most"},
	{"export", "webhook_login", func(s *Settings) any { return &s.Export.WebhookLogin }, 0, 0, "alert on every login attempt, not only on new addresses"},
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
		if f.path() == "agent.log_level" {
			switch *p {
			case "debug", "info", "warn", "error":
			default:
				return fmt.Sprintf("%q is not one of debug, info, warn, error", *p)
			}
		}
		if f.path() == "agent.hostname" && !validHostname(*p) {
			return fmt.Sprintf("%q is not a host name (letters, digits, '-' and '.')", *p)
		}
		if f.path() == "firewall.backend" {
			switch *p {
			case "auto", "nft", "legacy":
			default:
				return fmt.Sprintf("%q is not one of auto, nft, legacy", *p)
			}
		}
		if f.path() == "firewall.wan_zone" && !validZone(*p) {
			return fmt.Sprintf("%q is not a zone name (letters, digits and '_')", *p)
		}
		if msg := checkExport(f.option, f.section, *p); msg != "" {
			return msg
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
