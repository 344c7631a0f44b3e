// Package rpcd is the ubus object "minipot": an rpcd executable plugin that
// maps each ubus method one to one onto a request of the control API
// (docs/api.md) on its unix socket.
//
// rpcd runs the plugin twice over: `PLUGIN list` once at start (stdout: one
// JSON object, method → argument → example value whose JSON type declares
// the argument's type) and `PLUGIN call METHOD` per call (arguments as one
// JSON object on stdin, the reply as one JSON object on stdout). rpcd ignores
// the plugin's exit status and turns anything but a JSON object on stdout
// into a bare ubus status code, so an error that must keep its message (the
// API's, with its per-field errors) is a JSON object too: {"error": ...}.
// rpcd rebuilds the reply as one ubus message (blobmsg, C strings, 1 MiB):
// blob.go encodes what a C string cannot carry and measures the reply as
// ubus will.
package rpcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits. rpcd kills a plugin after its exec timeout (120 s today, 30 s in
// older releases); LuCI gives up on a call after 20 s by default. The API
// call's timeout stays below both so that the caller gets a message, not a
// bare ubus timeout.
const (
	// MaxInput is rpcd's own bound: it hands a plugin at most 65,536
	// bytes of arguments and cuts the rest (measured: docs/openwrt.md).
	// The API takes bodies of at most 64 KiB too.
	MaxInput = 64 << 10
	// MaxAnswer bounds what the plugin reads of the API's answer; what
	// rpcd can carry of it is checked as blobmsg (MaxBlob), where the
	// API's `\u003c` for `<` is one byte again. A byte of a string takes
	// at most 6 in the API's JSON, so no answer that fits in a ubus
	// message is over 6 MiB.
	MaxAnswer      = 6<<20 + 256<<10
	DefaultSocket  = "/var/run/minipot-api.sock"
	DefaultTimeout = 18 * time.Second
)

// argType is the type rpcd declares for an argument (blobmsg policy).
type argType int

const (
	tString argType = iota
	tNumber         // int32
	tObject         // table
)

// example is the value of an argument in `list`: its JSON type is what
// rpcd reads as the argument's type.
func (t argType) example() any {
	switch t {
	case tNumber:
		return 0
	case tObject:
		return map[string]any{}
	}
	return ""
}

// method is one ubus method and the API request it becomes.
type method struct {
	name string
	args map[string]argType
	// build turns checked arguments into the API request.
	build func(a args) (Request, error)
}

// Request is one request of the API.
type Request struct {
	Method  string // HTTP method
	Path    string // under /api/v1
	Query   url.Values
	Body    []byte // JSON; nil for GET
	IfMatch string
	// AddETag puts the response's ETag header into the reply as "etag":
	// ubus has no headers, and set_settings needs it back.
	AddETag bool
}

// URL is the request's URL on the unix socket (the API wants a local Host).
func (r Request) URL() string {
	u := url.URL{Scheme: "http", Host: "localhost", Path: "/api/v1" + r.Path, RawQuery: r.Query.Encode()}
	return u.String()
}

var (
	filterArgs = map[string]argType{"service": tString, "src_ip": tString, "action": tString,
		"since": tString, "until": tString, "cursor": tString, "limit": tNumber}
	statsArgs = map[string]argType{"since": tString, "until": tString, "top": tNumber}
)

// methods is the ubus object, one entry per API operation.
var methods = []method{
	{"get_settings", nil, func(args) (Request, error) {
		return Request{Method: "GET", Path: "/settings", AddETag: true}, nil
	}},
	{"set_settings", map[string]argType{"settings": tObject, "etag": tString}, func(a args) (Request, error) {
		body, ok := a["settings"]
		if !ok {
			return Request{}, &FieldError{Field: "settings", Message: "required: an object with the settings to change"}
		}
		return Request{Method: "PATCH", Path: "/settings", Body: body, IfMatch: a.str("etag")}, nil
	}},
	{"apply", nil, func(args) (Request, error) {
		return Request{Method: "POST", Path: "/settings/apply", Body: []byte("{}")}, nil
	}},
	{"status", nil, func(args) (Request, error) { return Request{Method: "GET", Path: "/status"}, nil }},
	{"events", filterArgs, func(a args) (Request, error) {
		return Request{Method: "GET", Path: "/events", Query: a.query()}, nil
	}},
	{"stats", statsArgs, func(a args) (Request, error) {
		return Request{Method: "GET", Path: "/stats", Query: a.query()}, nil
	}},
	{"purge", map[string]argType{"scope": tString}, func(a args) (Request, error) {
		// An absent scope is sent as absent: the API says what it wants.
		body := []byte("{}")
		if s, ok := a["scope"]; ok {
			body = []byte(`{"scope":` + string(s) + `}`)
		}
		return Request{Method: "POST", Path: "/events/purge", Body: body}, nil
	}},
	{"version", nil, func(args) (Request, error) { return Request{Method: "GET", Path: "/version"}, nil }},
}

func lookup(name string) (method, bool) {
	for _, m := range methods {
		if m.name == name {
			return m, true
		}
	}
	return method{}, false
}

// List is the answer to `PLUGIN list`.
func List() map[string]map[string]any {
	out := make(map[string]map[string]any, len(methods))
	for _, m := range methods {
		sig := map[string]any{}
		for name, t := range m.args {
			sig[name] = t.example()
		}
		out[m.name] = sig
	}
	return out
}

// args are a call's checked arguments, as compact JSON; numbers given as
// strings (LuCI form values) are normalized to JSON numbers.
type args map[string]json.RawMessage

func (a args) str(name string) string {
	var s string
	json.Unmarshal(a[name], &s) // checked by parseArgs
	return s
}

// query renders the arguments as the API's query parameters.
func (a args) query() url.Values {
	q := url.Values{}
	for name, raw := range a {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw) // a number
		}
		q.Set(name, s)
	}
	return q
}

// sessionArg is added by uhttpd's ubus handler to calls from LuCI.
const sessionArg = "ubus_rpc_session"

// parseArgs checks a call's arguments against the method's signature: rpcd
// passes them through unchecked, so a caller may send anything.
func parseArgs(m method, in map[string]json.RawMessage) (args, error) {
	out := args{}
	var bad []FieldError
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := bytes.TrimSpace(in[name])
		t, known := m.args[name]
		switch {
		case name == sessionArg:
			continue
		case !known:
			bad = append(bad, FieldError{name, "unknown argument of " + m.name})
			continue
		case string(raw) == "null":
			continue // LuCI sends null for a parameter it was not given
		}
		v, err := checkArg(t, raw)
		if err != nil {
			bad = append(bad, FieldError{name, err.Error()})
			continue
		}
		if v != nil {
			out[name] = v
		}
	}
	if len(bad) > 0 {
		return nil, &Error{Message: "invalid arguments of " + m.name, Fields: bad}
	}
	return out, nil
}

// checkArg returns the argument as compact JSON, or nil when it counts as
// absent (an empty string: an empty filter field of a form).
func checkArg(t argType, raw json.RawMessage) (json.RawMessage, error) {
	switch t {
	case tString:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errors.New("must be a string")
		}
		if s == "" {
			return nil, nil
		}
	case tNumber:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			s = strings.TrimSpace(s)
			if s == "" {
				return nil, nil
			}
			raw = json.RawMessage(s)
		}
		var f float64
		if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return nil, errors.New("must be a whole number")
		}
		return json.RawMessage(strconv.FormatInt(int64(f), 10)), nil
	case tObject:
		var o map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
			return nil, errors.New("must be an object")
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	return buf.Bytes(), nil
}

// Build turns a call (method name, JSON arguments from stdin) into the API
// request. Empty input counts as no arguments, for a person at a shell.
func Build(name string, input []byte) (Request, error) {
	m, ok := lookup(name)
	if !ok {
		return Request{}, &Error{Message: fmt.Sprintf("no method %q: `list` names them", name)}
	}
	in := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(input)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(input))
		if err := dec.Decode(&in); err != nil || in == nil {
			return Request{}, &Error{Message: "the arguments must be one JSON object"}
		}
	}
	a, err := parseArgs(m, in)
	if err != nil {
		return Request{}, err
	}
	req, err := m.build(a)
	var fe *FieldError
	if errors.As(err, &fe) {
		return Request{}, &Error{Message: "invalid arguments of " + m.name, Fields: []FieldError{*fe}}
	}
	return req, err
}

// FieldError is one bad field, as the API names it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Error is a failed call. Reply renders it as the API's error object plus
// http_status (0 when the plugin itself refused the call, or could not
// reach the API).
type Error struct {
	Message    string
	Fields     []FieldError
	HTTPStatus int
	// api is the API's error object as it came, with every member kept
	// (rolled_back, changes... of a failed update).
	api map[string]json.RawMessage
}

func (e *Error) Error() string {
	msg := e.Message
	for _, f := range e.Fields {
		msg += "; " + f.Error()
	}
	return msg
}

// Reply is the JSON object the plugin prints for the error.
func (e *Error) Reply() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range e.api {
		out[k] = v
	}
	out["error"], _ = json.Marshal(e.Message)
	if len(e.Fields) > 0 {
		out["fields"], _ = json.Marshal(e.Fields)
	}
	if e.HTTPStatus != 0 {
		out["http_status"], _ = json.Marshal(e.HTTPStatus)
	}
	return out
}

// Client talks to the API on its unix socket.
type Client struct {
	Socket  string
	Timeout time.Duration
}

// Do sends the request and returns the API's JSON object, decoded with
// UseNumber (a non-object answer is wrapped as {"result": ...}: ubus
// replies are objects). The answer is decoded as it is read, not copied
// first: a router has little memory.
func (c Client) Do(ctx context.Context, r Request) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL(), body)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("build the API request: %v", err)}
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.IfMatch != "" {
		req.Header.Set("If-Match", r.IfMatch)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Message: fmt.Sprintf("the API on %s did not answer within %s", c.Socket, c.Timeout)}
		}
		return nil, &Error{Message: fmt.Sprintf("cannot reach the API on %s (is `minipot api` running?): %v", c.Socket, unwrapURL(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorAnswer))
		obj, _ := asObject(data)
		return nil, apiError(resp.StatusCode, obj, data)
	}
	// Errors of the plugin's own carry no http_status: the API's 200 is
	// not the outcome the caller gets.
	lr := &io.LimitedReader{R: resp.Body, N: MaxAnswer + 1}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		switch {
		case lr.N <= 0:
			return nil, &Error{Message: tooLarge(fmt.Sprintf("over %d MiB of JSON", MaxAnswer>>20))}
		case ctx.Err() != nil:
			return nil, &Error{Message: fmt.Sprintf("the API on %s did not answer within %s", c.Socket, c.Timeout)}
		}
		return nil, &Error{Message: fmt.Sprintf("the API answered with malformed JSON: %v", unwrapURL(err))}
	}
	obj, ok := v.(map[string]any)
	if !ok || obj == nil {
		obj = map[string]any{"result": v}
	}
	if r.AddETag {
		obj["etag"] = resp.Header.Get("ETag")
	}
	return obj, nil
}

// maxErrorAnswer bounds what is read of an error answer: the API's error
// objects are small.
const maxErrorAnswer = 64 << 10

// asObject decodes a JSON document, wrapping anything but an object.
func asObject(data []byte) (map[string]json.RawMessage, error) {
	var v json.RawMessage
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil && obj != nil {
		return obj, nil
	}
	return map[string]json.RawMessage{"result": v}, nil
}

// apiError keeps the API's message and field errors; an answer that is not
// the API's error object (a proxy, a crash) still gets a message.
func apiError(status int, obj map[string]json.RawMessage, data []byte) *Error {
	e := &Error{HTTPStatus: status, api: obj}
	if obj != nil {
		json.Unmarshal(obj["error"], &e.Message)
		json.Unmarshal(obj["fields"], &e.Fields)
	}
	if e.Message == "" {
		snippet := strings.TrimSpace(string(data))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		e.Message = fmt.Sprintf("the API answered %d %s: %s", status, http.StatusText(status), snippet)
	}
	return e
}

// unwrapURL drops net/http's "Get \"http://localhost/...\":" prefix, which
// says nothing to a ubus caller.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Call runs one `call METHOD`: reads the arguments (one JSON object of at
// most MaxInput bytes) from in, asks the API, and returns the reply object
// to print and whether it is a success. It reads one JSON value, not up to
// EOF, so a caller that keeps stdin open does not hang it.
// The reply is what rpcd can carry (ubusReply): strings with a NUL byte
// encoded, and at most MaxBlob bytes as blobmsg.
func Call(ctx context.Context, c Client, name string, in io.Reader) (map[string]json.RawMessage, bool) {
	obj, err := call(ctx, c, name, in)
	if err == nil {
		var reply map[string]json.RawMessage
		var size int
		reply, size, err = ubusReply(obj)
		if err == nil && size > MaxBlob {
			err = &Error{Message: tooLarge(fmt.Sprintf("%d bytes as a ubus message", size))}
		}
		if err == nil {
			return reply, true
		}
	}
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Message: err.Error()}
	}
	reply := e.Reply()
	if members, derr := decodeMembers(reply); derr == nil {
		if r, _, rerr := ubusReply(members); rerr == nil {
			reply = r
		}
	}
	return reply, false
}

func call(ctx context.Context, c Client, name string, in io.Reader) (map[string]any, error) {
	input, err := readInput(in)
	if err != nil {
		return nil, err
	}
	req, err := Build(name, input)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, req)
}

// tooLarge is the message for an answer ubus cannot carry.
func tooLarge(what string) string {
	return fmt.Sprintf("the answer is too large for ubus (%s; a ubus message carries at most %d KiB): ask for fewer (limit, top) and page with cursor", what, ubusMaxMsg>>10)
}

// readInput reads the first JSON value of in; nothing at all is no input.
// Arguments that end unfinished at MaxInput bytes were cut by rpcd (or
// are too large anyway): that is what the caller is told, not the syntax
// error the cut makes.
func readInput(in io.Reader) ([]byte, error) {
	lr := &io.LimitedReader{R: in, N: MaxInput + 1}
	var raw json.RawMessage
	err := json.NewDecoder(lr).Decode(&raw)
	switch {
	case err != nil && lr.N <= 1:
		return nil, &Error{Message: fmt.Sprintf("request too large: the arguments are over %d bytes, more than rpcd passes to a plugin", MaxInput)}
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, &Error{Message: fmt.Sprintf("the arguments must be one JSON object: %v", err)}
	}
	return raw, nil
}
