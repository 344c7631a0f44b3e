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
	API            APIDoc                `json:"api"`
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
	HostKeys   string `json:"host_keys"`
}

// LimitsDoc is section limits.
type LimitsDoc struct {
	MaxConnections int    `json:"max_connections"`
	MaxPerIP       int    `json:"max_per_ip"`
	MaxPerNetwork  int    `json:"max_per_network"`
	IdleTimeout    string `json:"idle_timeout"`
	SessionTimeout string `json:"session_timeout"`
	LoginTimeout   string `json:"login_timeout"`
	HeaderTimeout  string `json:"header_timeout"`
	LineMax        int    `json:"line_max"`
	RequestLineMax int    `json:"request_line_max"`
	HeaderBytes    int    `json:"header_bytes"`
	HeaderCount    int    `json:"header_count"`
	BodyMax        int    `json:"body_max"`
	BodyExcerpt    int    `json:"body_excerpt"`
	Requests       int    `json:"requests"`
	SSHHandshakes  int    `json:"ssh_handshakes"`
}

// StoreDoc is section store.
type StoreDoc struct {
	Path    string `json:"path"`
	MaxAge  string `json:"max_age"`
	MaxRows int    `json:"max_rows"`
	MaxSize int    `json:"max_size"`
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

// APIDoc is section api: the control API's TCP address and token file,
// read when the API starts (a change applies at its restart).
type APIDoc struct {
	Listen    string `json:"listen"`
	TokenFile string `json:"token_file"`
}

// docOf renders s. Every option of the fields table
// (settings.Settings.Options) lands in the document field of the same
// path (see jsonPath); only fakes.disable is shown per service.
func docOf(s settings.Settings) SettingsDoc {
	d := SettingsDoc{Services: map[string]ServiceDoc{}}
	root := reflect.ValueOf(&d).Elem()
	for _, o := range s.Options() {
		f, ok := docField(root, jsonPath(o))
		if !ok {
			continue // fakes.disable; TestDocFollowsTheFieldsTable covers the rest
		}
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(o.Value == "1")
		case reflect.Int:
			n, _ := strconv.Atoi(o.Value)
			f.SetInt(int64(n))
		case reflect.String:
			f.SetString(o.Value)
		case reflect.Slice:
			f.Set(reflect.ValueOf(append([]string{}, o.Items...)))
		}
	}
	for _, svc := range settings.Services() {
		d.Services[svc.Key] = ServiceDoc{
			Enabled: !slices.Contains(s.Disabled, svc.Key),
			Port:    svc.Port, FakePort: s.FakePort(svc), Kind: string(svc.Kind), Label: svc.Label,
		}
	}
	return d
}

// jsonPath is where an option stands in the settings document: section
// fakes at the top, the others under their section's name, with UCI's
// option names. "" for fakes.disable, which is shown per service.
func jsonPath(o settings.Option) string {
	switch {
	case o.Path() == "fakes.disable":
		return ""
	case o.Section == "fakes":
		return o.Name
	}
	return o.Section + "." + o.Name
}

// docField finds the field of a document struct at a dotted JSON path.
func docField(v reflect.Value, path string) (reflect.Value, bool) {
	if path == "" {
		return reflect.Value{}, false
	}
	for _, name := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		found := false
		for i := range v.NumField() {
			if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ","); tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
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

// patch is a partial settings document as decoded JSON (numbers as
// json.Number): a field left out is "not given".
type patch map[string]any

// decodePatch reads a partial settings document strictly: the body must
// be one JSON object with the fields of SettingsDoc only, values of the
// right type and no nulls. Every problem is reported with its field.
func decodePatch(body []byte) (patch, settings.Errors) {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, settings.Errors{{Field: "", Message: "malformed JSON: " + jsonMessage(err)}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, settings.Errors{{Field: "", Message: "malformed JSON: more than one value in the body"}}
	}
	obj, ok := generic.(map[string]any)
	if !ok {
		return nil, settings.Errors{{Field: "", Message: "the body must be a JSON object"}}
	}
	var errs settings.Errors
	checkShape(generic, reflect.TypeOf(SettingsDoc{}), "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	return patch(obj), nil
}

// at is the value at a dotted JSON path of the patch.
func (p patch) at(path string) (any, bool) {
	var v any = map[string]any(p)
	for _, name := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[name]; !ok {
			return nil, false
		}
	}
	return v, true
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
	if t == reflect.TypeOf(settings.Errors(nil)) {
		return // read-only: what GET shows, accepted back and ignored
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

// applyPatch returns cur with p applied, and the UCI fields p sets. Each
// option of the fields table is looked up at its jsonPath and parsed as
// its UCI text would be. The result is not validated as a whole yet;
// errors here are values that do not even parse.
func applyPatch(cur settings.Settings, p patch) (settings.Settings, []string, settings.Errors) {
	s := cur
	s.Disabled = slices.Clone(cur.Disabled)
	s.Firewall.WANDevices = slices.Clone(cur.Firewall.WANDevices)
	var touched []string
	var errs settings.Errors
	fail := func(field, msg string) { errs = append(errs, settings.FieldError{Field: field, Message: msg}) }
	for _, o := range cur.Options() {
		v, ok := p.at(jsonPath(o))
		if jsonPath(o) == "" || !ok {
			continue
		}
		touched = append(touched, o.Path())
		if err := s.SetOption(o.Path(), uciText(v)...); err != nil {
			fail(o.Path(), err.Error())
		}
	}
	services, _ := p["services"].(map[string]any)
	for _, key := range sortedKeys(services) {
		sp, _ := services[key].(map[string]any)
		touched = append(touched, "fakes.disable")
		svc, ok := settings.LookupService(key)
		if !ok {
			fail("fakes.disable", fmt.Sprintf("unknown service %q", key))
			continue
		}
		if on, ok := sp["enabled"].(bool); ok {
			s.Disabled = slices.DeleteFunc(s.Disabled, func(k string) bool { return k == key })
			if !on {
				s.Disabled = append(s.Disabled, key)
			}
		}
		// What GET shows may come back unchanged; a different value is
		// a mistake worth telling.
		readOnly := func(name string, same bool) {
			if _, given := sp[name]; given && !same {
				fail("fakes.disable", fmt.Sprintf("services.%s.%s is read-only", key, name))
			}
		}
		num := func(name string) string { n, _ := sp[name].(json.Number); return n.String() }
		readOnly("port", num("port") == strconv.Itoa(svc.Port))
		readOnly("fake_port", num("fake_port") == strconv.Itoa(cur.FakePort(svc)) || num("fake_port") == strconv.Itoa(svc.Port+s.RedirOffset))
		readOnly("kind", sp["kind"] == string(svc.Kind))
		readOnly("label", sp["label"] == svc.Label)
	}
	sort.Strings(s.Disabled)
	s.Disabled = slices.Compact(s.Disabled)
	sort.Strings(touched)
	return s, slices.Compact(touched), errs
}

// uciText is a JSON value of the right shape (checkShape) as UCI text: a
// list's items, or one value.
func uciText(v any) []string {
	switch v := v.(type) {
	case bool:
		if v {
			return []string{"1"}
		}
		return []string{"0"}
	case json.Number:
		return []string{v.String()}
	case string:
		return []string{v}
	case []any:
		items := make([]string, 0, len(v))
		for _, x := range v {
			items = append(items, uciText(x)...)
		}
		return items
	}
	return nil
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

// flatten lists every option of s with its value as UCI writes it, in the
// order of the fields table.
func flatten(s settings.Settings) [][2]string {
	opts := s.Options()
	out := make([][2]string, len(opts))
	for i, o := range opts {
		out[i] = [2]string{o.Path(), o.Value}
	}
	return out
}
