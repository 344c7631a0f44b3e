package webapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/settings"
)

// SettingsDoc is package ucollect as JSON. Section fakes is flattened to
// the top (enabled, log_credentials, redir_offset, mark_mask) and its
// disable list becomes one "enabled" flag per service; the other sections
// keep their UCI option names, so that an error's UCI path
// ("limits.idle_timeout") names the JSON field too. Durations are UCI
// strings ("30s", "7d").
type SettingsDoc struct {
	Enabled        bool                  `json:"enabled"`
	LogCredentials bool                  `json:"log_credentials"`
	RedirOffset    int                   `json:"redir_offset"`
	MarkMask       string                `json:"mark_mask"`
	Services       map[string]ServiceDoc `json:"services"`
	Agent          AgentDoc              `json:"agent"`
	Limits         LimitsDoc             `json:"limits"`
	Store          StoreDoc              `json:"store"`
	Firewall       FirewallDoc           `json:"firewall"`
	Export         ExportDoc             `json:"export"`
	// Errors lists the file's invalid options (read-only): their
	// defaults are shown instead.
	Errors settings.Errors `json:"errors,omitempty"`
}

// ServiceDoc is one minipot. Only Enabled can be changed; the rest is
// information, accepted back unchanged.
type ServiceDoc struct {
	Enabled  bool   `json:"enabled"`
	Port     int    `json:"port"`
	FakePort int    `json:"fake_port"`
	Kind     string `json:"kind"`
	Label    string `json:"label"`
}

// AgentDoc is section agent.
type AgentDoc struct {
	Listen     string `json:"listen"`
	Hostname   string `json:"hostname"`
	LoginDelay string `json:"login_delay"`
	Attempts   int    `json:"attempts"`
	LogLevel   string `json:"log_level"`
}

// LimitsDoc is section limits.
type LimitsDoc struct {
	MaxConnections int    `json:"max_connections"`
	MaxPerIP       int    `json:"max_per_ip"`
	IdleTimeout    string `json:"idle_timeout"`
	SessionTimeout string `json:"session_timeout"`
	LineMax        int    `json:"line_max"`
	RequestLineMax int    `json:"request_line_max"`
	HeaderBytes    int    `json:"header_bytes"`
	HeaderCount    int    `json:"header_count"`
	BodyMax        int    `json:"body_max"`
	BodyExcerpt    int    `json:"body_excerpt"`
	Requests       int    `json:"requests"`
}

// StoreDoc is section store.
type StoreDoc struct {
	Path    string `json:"path"`
	MaxAge  string `json:"max_age"`
	MaxRows int    `json:"max_rows"`
	Queue   int    `json:"queue"`
}

// FirewallDoc is section firewall.
type FirewallDoc struct {
	Backend    string   `json:"backend"`
	WANDevices []string `json:"wan_devices"`
	WANZone    string   `json:"wan_zone"`
	IPv6       bool     `json:"ipv6"`
}

// ExportDoc is section export: the fleet exporter and webhook alerts.
type ExportDoc struct {
	Enabled      bool   `json:"enabled"`
	Broker       string `json:"broker"`
	TopicPrefix  string `json:"topic_prefix"`
	SensorID     string `json:"sensor_id"`
	CAFile       string `json:"ca_file"`
	CertFile     string `json:"cert_file"`
	KeyFile      string `json:"key_file"`
	AuthFile     string `json:"auth_file"`
	BatchSize    int    `json:"batch_size"`
	Interval     string `json:"interval"`
	Rate         int    `json:"rate"`
	Credentials  bool   `json:"credentials"`
	WebhookURL   string `json:"webhook_url"`
	WebhookRate  int    `json:"webhook_rate"`
	WebhookLogin bool   `json:"webhook_login"`
}

func exportDocOf(e settings.Export) ExportDoc {
	return ExportDoc{Enabled: e.Enabled, Broker: e.Broker, TopicPrefix: e.TopicPrefix, SensorID: e.SensorID,
		CAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile, AuthFile: e.AuthFile,
		BatchSize: e.BatchSize, Interval: settings.FormatDuration(e.Interval), Rate: e.Rate,
		Credentials: e.Credentials, WebhookURL: e.WebhookURL, WebhookRate: e.WebhookRate, WebhookLogin: e.WebhookLogin}
}

// docOf renders s.
func docOf(s settings.Settings) SettingsDoc {
	d := SettingsDoc{
		Enabled:        s.Enabled,
		LogCredentials: s.LogCredentials,
		RedirOffset:    s.RedirOffset,
		MarkMask:       fmt.Sprintf("0x%X", s.MarkMask),
		Services:       map[string]ServiceDoc{},
		Agent: AgentDoc{
			Listen: s.Agent.Listen, Hostname: s.Agent.Hostname,
			LoginDelay: settings.FormatDuration(s.Agent.LoginDelay),
			Attempts:   s.Agent.Attempts, LogLevel: s.Agent.LogLevel,
		},
		Limits: LimitsDoc{
			MaxConnections: s.Limits.MaxConns, MaxPerIP: s.Limits.MaxPerIP,
			IdleTimeout:    settings.FormatDuration(s.Limits.Idle),
			SessionTimeout: settings.FormatDuration(s.Limits.Session),
			LineMax:        s.Limits.LineMax, RequestLineMax: s.Limits.RequestLine,
			HeaderBytes: s.Limits.HeaderBytes, HeaderCount: s.Limits.HeaderCount,
			BodyMax: s.Limits.BodyMax, BodyExcerpt: s.Limits.BodyExcerpt, Requests: s.Limits.Requests,
		},
		Store: StoreDoc{
			Path: s.Store.Path, MaxAge: settings.FormatDuration(s.Store.MaxAge),
			MaxRows: s.Store.MaxRows, Queue: s.Store.Queue,
		},
		Firewall: FirewallDoc{
			Backend: s.Firewall.Backend, WANDevices: slices.Clone(s.Firewall.WANDevices),
			WANZone: s.Firewall.WANZone, IPv6: s.Firewall.IPv6,
		},
	}
	d.Export = exportDocOf(s.Export)
	if d.Firewall.WANDevices == nil {
		d.Firewall.WANDevices = []string{}
	}
	for _, svc := range settings.Services() {
		d.Services[svc.Key] = ServiceDoc{
			Enabled: !slices.Contains(s.Disabled, svc.Key),
			Port:    svc.Port, FakePort: s.FakePort(svc), Kind: string(svc.Kind), Label: svc.Label,
		}
	}
	return d
}

// settingsPatch is a partial SettingsDoc: nil is "not given".
type settingsPatch struct {
	Enabled        *bool                    `json:"enabled"`
	LogCredentials *bool                    `json:"log_credentials"`
	RedirOffset    *int                     `json:"redir_offset"`
	MarkMask       *string                  `json:"mark_mask"`
	Services       map[string]*servicePatch `json:"services"`
	Agent          *struct {
		Listen     *string `json:"listen"`
		Hostname   *string `json:"hostname"`
		LoginDelay *string `json:"login_delay"`
		Attempts   *int    `json:"attempts"`
		LogLevel   *string `json:"log_level"`
	} `json:"agent"`
	Limits *struct {
		MaxConnections *int    `json:"max_connections"`
		MaxPerIP       *int    `json:"max_per_ip"`
		IdleTimeout    *string `json:"idle_timeout"`
		SessionTimeout *string `json:"session_timeout"`
		LineMax        *int    `json:"line_max"`
		RequestLineMax *int    `json:"request_line_max"`
		HeaderBytes    *int    `json:"header_bytes"`
		HeaderCount    *int    `json:"header_count"`
		BodyMax        *int    `json:"body_max"`
		BodyExcerpt    *int    `json:"body_excerpt"`
		Requests       *int    `json:"requests"`
	} `json:"limits"`
	Store *struct {
		Path    *string `json:"path"`
		MaxAge  *string `json:"max_age"`
		MaxRows *int    `json:"max_rows"`
		Queue   *int    `json:"queue"`
	} `json:"store"`
	Firewall *struct {
		Backend    *string   `json:"backend"`
		WANDevices *[]string `json:"wan_devices"`
		WANZone    *string   `json:"wan_zone"`
		IPv6       *bool     `json:"ipv6"`
	} `json:"firewall"`
	Export *struct {
		Enabled      *bool   `json:"enabled"`
		Broker       *string `json:"broker"`
		TopicPrefix  *string `json:"topic_prefix"`
		SensorID     *string `json:"sensor_id"`
		CAFile       *string `json:"ca_file"`
		CertFile     *string `json:"cert_file"`
		KeyFile      *string `json:"key_file"`
		AuthFile     *string `json:"auth_file"`
		BatchSize    *int    `json:"batch_size"`
		Interval     *string `json:"interval"`
		Rate         *int    `json:"rate"`
		Credentials  *bool   `json:"credentials"`
		WebhookURL   *string `json:"webhook_url"`
		WebhookRate  *int    `json:"webhook_rate"`
		WebhookLogin *bool   `json:"webhook_login"`
	} `json:"export"`
	// Read-only: what GET shows, accepted back and ignored.
	Errors json.RawMessage `json:"errors"`
}

type servicePatch struct {
	Enabled  *bool   `json:"enabled"`
	Port     *int    `json:"port"`
	FakePort *int    `json:"fake_port"`
	Kind     *string `json:"kind"`
	Label    *string `json:"label"`
}

// uciField maps a JSON path of the settings document to the UCI option it
// stands for.
func uciField(jsonPath string) string {
	switch {
	case jsonPath == "enabled", jsonPath == "log_credentials", jsonPath == "redir_offset", jsonPath == "mark_mask":
		return "fakes." + jsonPath
	case jsonPath == "services" || strings.HasPrefix(jsonPath, "services."):
		if strings.HasSuffix(jsonPath, ".enabled") || jsonPath == "services" || strings.Count(jsonPath, ".") == 1 {
			return "fakes.disable"
		}
	}
	return jsonPath
}

// decodePatch reads a partial settings document strictly: the body must
// be one JSON object, with known fields only, values of the right type and
// no nulls. Every problem is reported with its field.
func decodePatch(body []byte) (settingsPatch, settings.Errors) {
	var p settingsPatch
	var generic any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return p, settings.Errors{{Field: "", Message: "malformed JSON: " + jsonMessage(err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, settings.Errors{{Field: "", Message: "malformed JSON: more than one value in the body"}}
	}
	if _, ok := generic.(map[string]any); !ok {
		return p, settings.Errors{{Field: "", Message: "the body must be a JSON object"}}
	}
	var errs settings.Errors
	checkShape(generic, reflect.TypeOf(p), "", &errs)
	if len(errs) > 0 {
		return p, errs
	}
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		// checkShape found nothing, so what is left is a number that does
		// not fit (a fraction, or out of range for an int).
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return p, settings.Errors{{Field: uciField(te.Field), Message: fmt.Sprintf("%s is not a whole number in range", te.Value)}}
		}
		return p, settings.Errors{{Field: "", Message: "malformed JSON: " + jsonMessage(err)}}
	}
	return p, nil
}

// jsonMessage strips Go's package prefix from a decoding error.
func jsonMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the body"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// checkShape compares a decoded JSON value with the Go type it will be
// decoded into, naming the field of every unknown key, null and wrong type.
func checkShape(v any, t reflect.Type, path string, errs *settings.Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(msg string) {
		*errs = append(*errs, settings.FieldError{Field: uciField(path), Message: msg})
	}
	if t == reflect.TypeOf(json.RawMessage(nil)) {
		return
	}
	if v == nil {
		bad("must not be null (leave the field out to keep its value)")
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("must be true or false, not " + jsonType(v))
		}
	case reflect.Int:
		if _, ok := v.(json.Number); !ok {
			bad("must be a number, not " + jsonType(v))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("must be a string, not " + jsonType(v))
		}
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			bad("must be an array, not " + jsonType(v))
			return
		}
		for i, item := range items {
			checkShape(item, t.Elem(), path+"["+strconv.Itoa(i)+"]", errs)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object, not " + jsonType(v))
			return
		}
		for _, k := range sortedKeys(obj) {
			checkShape(obj[k], t.Elem(), join(path, k), errs)
		}
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object, not " + jsonType(v))
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, settings.FieldError{Field: join(path, k), Message: "unknown field"})
				continue
			}
			checkShape(obj[k], ft, join(path, k), errs)
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// applyPatch returns cur with p applied, and the UCI fields p sets. The
// result is not validated as a whole yet; errors here are values that do
// not even parse.
func applyPatch(cur settings.Settings, p settingsPatch) (settings.Settings, []string, settings.Errors) {
	s := cur
	s.Disabled = slices.Clone(cur.Disabled)
	s.Firewall.WANDevices = slices.Clone(cur.Firewall.WANDevices)
	var touched []string
	var errs settings.Errors
	set := func(field string) { touched = append(touched, field) }
	fail := func(field, msg string) { errs = append(errs, settings.FieldError{Field: field, Message: msg}) }
	dur := func(field string, v *string, d *time.Duration) {
		if v == nil {
			return
		}
		set(field)
		x, err := settings.ParseDuration(*v)
		if err != nil {
			fail(field, err.Error())
			return
		}
		*d = x
	}
	setBool := func(field string, v *bool, dst *bool) {
		if v != nil {
			set(field)
			*dst = *v
		}
	}
	setInt := func(field string, v *int, dst *int) {
		if v != nil {
			set(field)
			*dst = *v
		}
	}
	setStr := func(field string, v *string, dst *string) {
		if v != nil {
			set(field)
			*dst = *v
		}
	}
	setBool("fakes.enabled", p.Enabled, &s.Enabled)
	setBool("fakes.log_credentials", p.LogCredentials, &s.LogCredentials)
	setInt("fakes.redir_offset", p.RedirOffset, &s.RedirOffset)
	if p.MarkMask != nil {
		set("fakes.mark_mask")
		m, err := strconv.ParseUint(strings.TrimSpace(*p.MarkMask), 0, 32)
		if err != nil {
			fail("fakes.mark_mask", fmt.Sprintf("%q is not a 32-bit number (e.g. \"0xC0000\")", *p.MarkMask))
		} else {
			s.MarkMask = uint32(m)
		}
	}
	keys := make([]string, 0, len(p.Services))
	for k := range p.Services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		sp := p.Services[key]
		set("fakes.disable")
		svc, ok := settings.LookupService(key)
		if !ok {
			fail("fakes.disable", fmt.Sprintf("unknown service %q", key))
			continue
		}
		if sp.Enabled != nil {
			s.Disabled = slices.DeleteFunc(s.Disabled, func(k string) bool { return k == key })
			if !*sp.Enabled {
				s.Disabled = append(s.Disabled, key)
			}
		}
		// What GET shows may come back unchanged; a different value is
		// a mistake worth telling.
		readOnly := func(name string, ok bool) {
			if !ok {
				fail("fakes.disable", fmt.Sprintf("services.%s.%s is read-only", key, name))
			}
		}
		if sp.Port != nil {
			readOnly("port", *sp.Port == svc.Port)
		}
		if sp.FakePort != nil {
			readOnly("fake_port", *sp.FakePort == cur.FakePort(svc) || *sp.FakePort == svc.Port+s.RedirOffset)
		}
		if sp.Kind != nil {
			readOnly("kind", *sp.Kind == string(svc.Kind))
		}
		if sp.Label != nil {
			readOnly("label", *sp.Label == svc.Label)
		}
	}
	sort.Strings(s.Disabled)
	s.Disabled = slices.Compact(s.Disabled)
	if a := p.Agent; a != nil {
		setStr("agent.listen", a.Listen, &s.Agent.Listen)
		setStr("agent.hostname", a.Hostname, &s.Agent.Hostname)
		dur("agent.login_delay", a.LoginDelay, &s.Agent.LoginDelay)
		setInt("agent.attempts", a.Attempts, &s.Agent.Attempts)
		setStr("agent.log_level", a.LogLevel, &s.Agent.LogLevel)
	}
	if l := p.Limits; l != nil {
		setInt("limits.max_connections", l.MaxConnections, &s.Limits.MaxConns)
		setInt("limits.max_per_ip", l.MaxPerIP, &s.Limits.MaxPerIP)
		dur("limits.idle_timeout", l.IdleTimeout, &s.Limits.Idle)
		dur("limits.session_timeout", l.SessionTimeout, &s.Limits.Session)
		setInt("limits.line_max", l.LineMax, &s.Limits.LineMax)
		setInt("limits.request_line_max", l.RequestLineMax, &s.Limits.RequestLine)
		setInt("limits.header_bytes", l.HeaderBytes, &s.Limits.HeaderBytes)
		setInt("limits.header_count", l.HeaderCount, &s.Limits.HeaderCount)
		setInt("limits.body_max", l.BodyMax, &s.Limits.BodyMax)
		setInt("limits.body_excerpt", l.BodyExcerpt, &s.Limits.BodyExcerpt)
		setInt("limits.requests", l.Requests, &s.Limits.Requests)
	}
	if st := p.Store; st != nil {
		setStr("store.path", st.Path, &s.Store.Path)
		dur("store.max_age", st.MaxAge, &s.Store.MaxAge)
		setInt("store.max_rows", st.MaxRows, &s.Store.MaxRows)
		setInt("store.queue", st.Queue, &s.Store.Queue)
	}
	if f := p.Firewall; f != nil {
		setStr("firewall.backend", f.Backend, &s.Firewall.Backend)
		if f.WANDevices != nil {
			set("firewall.wan_devices")
			s.Firewall.WANDevices = slices.Clone(*f.WANDevices)
		}
		setStr("firewall.wan_zone", f.WANZone, &s.Firewall.WANZone)
		setBool("firewall.ipv6", f.IPv6, &s.Firewall.IPv6)
	}
	if e := p.Export; e != nil {
		setBool("export.enabled", e.Enabled, &s.Export.Enabled)
		setStr("export.broker", e.Broker, &s.Export.Broker)
		setStr("export.topic_prefix", e.TopicPrefix, &s.Export.TopicPrefix)
		setStr("export.sensor_id", e.SensorID, &s.Export.SensorID)
		setStr("export.ca_file", e.CAFile, &s.Export.CAFile)
		setStr("export.cert_file", e.CertFile, &s.Export.CertFile)
		setStr("export.key_file", e.KeyFile, &s.Export.KeyFile)
		setStr("export.auth_file", e.AuthFile, &s.Export.AuthFile)
		setInt("export.batch_size", e.BatchSize, &s.Export.BatchSize)
		dur("export.interval", e.Interval, &s.Export.Interval)
		setInt("export.rate", e.Rate, &s.Export.Rate)
		setBool("export.credentials", e.Credentials, &s.Export.Credentials)
		setStr("export.webhook_url", e.WebhookURL, &s.Export.WebhookURL)
		setInt("export.webhook_rate", e.WebhookRate, &s.Export.WebhookRate)
		setBool("export.webhook_login", e.WebhookLogin, &s.Export.WebhookLogin)
	}
	sort.Strings(touched)
	return s, slices.Compact(touched), errs
}

// Change is one option an update changed, as UCI values.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// diffSettings lists the options whose UCI value differs, in a fixed order.
func diffSettings(a, b settings.Settings) []Change {
	fa, fb := flatten(a), flatten(b)
	var out []Change
	for _, f := range fa {
		for _, g := range fb {
			if f[0] == g[0] && f[1] != g[1] {
				out = append(out, Change{Field: f[0], From: f[1], To: g[1]})
			}
		}
	}
	return out
}

// flatten lists every option of s with its value as UCI writes it.
func flatten(s settings.Settings) [][2]string {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	i := strconv.Itoa
	d := settings.FormatDuration
	return [][2]string{
		{"fakes.enabled", b(s.Enabled)},
		{"fakes.log_credentials", b(s.LogCredentials)},
		{"fakes.disable", strings.Join(s.Disabled, " ")},
		{"fakes.redir_offset", i(s.RedirOffset)},
		{"fakes.mark_mask", fmt.Sprintf("0x%X", s.MarkMask)},
		{"agent.listen", s.Agent.Listen},
		{"agent.hostname", s.Agent.Hostname},
		{"agent.login_delay", d(s.Agent.LoginDelay)},
		{"agent.attempts", i(s.Agent.Attempts)},
		{"agent.log_level", s.Agent.LogLevel},
		{"limits.max_connections", i(s.Limits.MaxConns)},
		{"limits.max_per_ip", i(s.Limits.MaxPerIP)},
		{"limits.idle_timeout", d(s.Limits.Idle)},
		{"limits.session_timeout", d(s.Limits.Session)},
		{"limits.line_max", i(s.Limits.LineMax)},
		{"limits.request_line_max", i(s.Limits.RequestLine)},
		{"limits.header_bytes", i(s.Limits.HeaderBytes)},
		{"limits.header_count", i(s.Limits.HeaderCount)},
		{"limits.body_max", i(s.Limits.BodyMax)},
		{"limits.body_excerpt", i(s.Limits.BodyExcerpt)},
		{"limits.requests", i(s.Limits.Requests)},
		{"store.path", s.Store.Path},
		{"store.max_age", d(s.Store.MaxAge)},
		{"store.max_rows", i(s.Store.MaxRows)},
		{"store.queue", i(s.Store.Queue)},
		{"firewall.backend", s.Firewall.Backend},
		{"firewall.wan_devices", strings.Join(s.Firewall.WANDevices, " ")},
		{"firewall.wan_zone", s.Firewall.WANZone},
		{"firewall.ipv6", b(s.Firewall.IPv6)},
		{"export.enabled", b(s.Export.Enabled)},
		{"export.broker", s.Export.Broker},
		{"export.topic_prefix", s.Export.TopicPrefix},
		{"export.sensor_id", s.Export.SensorID},
		{"export.ca_file", s.Export.CAFile},
		{"export.cert_file", s.Export.CertFile},
		{"export.key_file", s.Export.KeyFile},
		{"export.auth_file", s.Export.AuthFile},
		{"export.batch_size", i(s.Export.BatchSize)},
		{"export.interval", d(s.Export.Interval)},
		{"export.rate", i(s.Export.Rate)},
		{"export.credentials", b(s.Export.Credentials)},
		{"export.webhook_url", s.Export.WebhookURL},
		{"export.webhook_rate", i(s.Export.WebhookRate)},
		{"export.webhook_login", b(s.Export.WebhookLogin)},
	}
}
