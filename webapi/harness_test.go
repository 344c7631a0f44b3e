package webapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
	"github.com/minipot/minipot/internal/uci"
)

// fakeAgent stands for the running agent: Reload reads the file the way
// the agent does and reports its digest, with the failures a test asks for.
type fakeAgent struct {
	mu           sync.Mutex
	dir          uci.Dir
	running      bool
	rep          report.Report
	cannotListen string // a service whose fake port is taken
	hang         bool   // never confirms a reload
	reloads      []string
}

func (f *fakeAgent) Report() (report.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return report.Report{}, ErrAgentNotRunning
	}
	return f.rep, nil
}

func (f *fakeAgent) Reload(ctx context.Context, digest string) (report.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return report.Report{}, ErrAgentNotRunning
	}
	f.reloads = append(f.reloads, digest)
	if f.hang {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return f.rep, fmt.Errorf("the agent did not report loading the new settings in time: %w", ctx.Err())
	}
	f.load()
	if f.rep.ConfigDigest != digest {
		return f.rep, errors.New("the agent loaded another file")
	}
	return f.rep, nil
}

// load does what the agent does on SIGHUP.
func (f *fakeAgent) load() {
	data, _ := os.ReadFile(filepath.Join(f.dir.Path, settings.Package))
	f.rep.ConfigDigest, f.rep.Loaded, f.rep.ConfigError = settings.Digest(data), time.Now().UTC(), ""
	p, err := uci.Parse(settings.Package, data)
	var s settings.Settings
	if err == nil {
		s, err = settings.FromPackage(p)
	}
	if err != nil {
		f.rep.ConfigError = err.Error()
		return
	}
	f.rep.Enabled, f.rep.LogCredentials = s.Enabled, s.LogCredentials
	f.rep.Services = nil
	for _, svc := range settings.Services() {
		st := report.ServiceStatus{Key: svc.Key, Port: svc.Port, FakePort: s.FakePort(svc)}
		switch {
		case !s.Enabled:
			st.Reason = "feature off"
		case !s.ServiceEnabled(svc.Key):
			st.Reason = "disabled"
		case svc.Key == f.cannotListen:
			st.Reason = "listen tcp 127.0.0.1:" + fmt.Sprint(st.FakePort) + ": bind: address already in use"
		default:
			st.Listening, st.Address = true, fmt.Sprintf("127.0.0.1:%d", st.FakePort)
		}
		f.rep.Services = append(f.rep.Services, st)
	}
}

// testFirewall is firewall.Fake that fails Apply for settings failOn picks,
// and whose Status editStatus may change (a real service, no WAN device).
type testFirewall struct {
	firewall.Fake
	failOn     func(settings.Settings) bool
	editStatus func(*firewall.Status)
}

func (f *testFirewall) Status(ctx context.Context, s settings.Settings) (firewall.Status, error) {
	st, err := f.Fake.Status(ctx, s)
	if err == nil && f.editStatus != nil {
		f.editStatus(&st)
	}
	return st, err
}

func (f *testFirewall) Apply(ctx context.Context, s settings.Settings) (firewall.Changes, error) {
	if f.failOn != nil && f.failOn(s) {
		return firewall.Changes{}, errors.New("iptables: No chain/target/match by that name (is kmod-ipt-nat6 installed?)")
	}
	return f.Fake.Apply(ctx, s)
}

// env is an API on a real unix socket, over a real UCI file in a temp
// folder and a real SQLite store, with a fake firewall and agent.
type env struct {
	t      *testing.T
	dir    uci.Dir
	file   string
	db     string
	api    *API
	fw     *testFirewall
	agent  *fakeAgent
	client *http.Client
	spec   *openapi3.T
	log    *syncBuffer
}

// canonical is a ucollect file as libuci writes it, so that a rollback
// (which writes the parsed previous file) restores its bytes exactly.
func canonical(t *testing.T, db string) []byte {
	t.Helper()
	dir := uci.Dir{Path: t.TempDir()}
	s := settings.Defaults()
	s.Disabled = []string{"2323tcp"}
	s.Agent.Listen = "127.0.0.1"
	s.Store.Path = db
	if err := settings.Save(dir, s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir.Path, settings.Package))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tmp := t.TempDir()
	e := &env{t: t, dir: uci.Dir{Path: filepath.Join(tmp, "config")}, db: filepath.Join(tmp, "events.db"), log: &syncBuffer{}}
	e.file = filepath.Join(e.dir.Path, settings.Package)
	if err := os.MkdirAll(e.dir.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.file, canonical(t, e.db), 0o644); err != nil {
		t.Fatal(err)
	}
	e.fw = &testFirewall{}
	e.agent = &fakeAgent{dir: e.dir, running: true, rep: report.Report{PID: 4242, Version: "test"}}
	e.agent.load()
	e.api = New(Config{Dir: e.dir, Firewall: e.fw, Agent: e.agent, Version: "test", StatsDir: tmp,
		ReloadTimeout: 300 * time.Millisecond, Log: zerolog.New(e.log)})
	t.Cleanup(func() { e.api.Close() })
	e.serve(Access{})

	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := spec.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	e.spec = spec
	return e
}

// collectCredentials switches fakes.log_credentials on through the API:
// the stored credentials of fixtures show only then.
func (e *env) collectCredentials() {
	e.t.Helper()
	if r := e.do("PATCH", "/api/v1/settings", `{"log_credentials": true}`); r.status != 200 {
		e.t.Fatalf("switch credentials on: %d %s", r.status, r.body)
	}
}

// serve starts the API on a new unix socket and points e.client at it.
func (e *env) serve(acc Access) {
	sock := filepath.Join(e.t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: e.api.Handler(acc), ConnContext: ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	e.t.Cleanup(func() { srv.Close() })
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

// fixture writes events into the store, as the agent would.
func (e *env) fixture(evs []event.Event) {
	e.t.Helper()
	st, err := store.Open(e.db, store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		st.Emit(&ev)
	}
	if err := st.Close(); err != nil {
		e.t.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request and validates the response against openapi.json:
// its status must be documented for the operation and its body match the
// schema. Responses of undocumented paths or methods must be errors.
func (e *env) do(method, target, body string, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost"+target, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: data}
	e.validate(req, r)
	return r
}

func (e *env) validate(req *http.Request, r response) {
	e.t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", req.Method, req.URL, ct)
	}
	path := strings.TrimPrefix(req.URL.Path, "/api/v1")
	item := e.spec.Paths.Find(path)
	var op *openapi3.Operation
	if item != nil && strings.HasPrefix(req.URL.Path, "/api/v1/") {
		op = item.GetOperation(req.Method)
	}
	if op == nil {
		var ae apiError
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ae); err != nil || ae.Error == "" || r.status < 400 {
			e.t.Errorf("%s %s (undocumented): %d %s", req.Method, req.URL, r.status, r.body)
		}
		return
	}
	route := &routers.Route{Spec: e.spec, Path: path, PathItem: item, Method: req.Method, Operation: op}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s: response %d does not match openapi.json: %v\n%s", req.Method, req.URL, r.status, err, r.body)
	}
}

func (e *env) fileBytes() []byte {
	e.t.Helper()
	data, err := os.ReadFile(e.file)
	if err != nil {
		e.t.Fatal(err)
	}
	return data
}

// syncBuffer is a log sink that tests read while the API writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
