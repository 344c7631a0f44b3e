// Package webapi is minipot's local control plane: a REST API (gorilla/mux)
// over a unix socket, and optionally loopback TCP with a bearer token, that
// LuCI (through rpcd), admin tools and shell scripts use to read and change
// the settings, see the agent's and the firewall's state, page through the
// events, get statistics and purge what was stored.
//
// The UCI file is the one source of truth: every request reads it, an
// update is written to it atomically, and the file's sha256 is the ETag —
// the same digest the agent reports once it has loaded the file, so
// "applied" means the two are equal. openapi.json (served at
// /api/v1/openapi.json) documents every endpoint; the tests validate every
// response against it.
package webapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// Config is what an API works on.
type Config struct {
	// Dir holds package ucollect.
	Dir uci.Dir
	// Firewall converges the redirect rules; nil when the API does not
	// manage them (the rules are then someone else's job: the fw3
	// include, `minipot firewall apply`).
	Firewall firewall.Firewall
	// Agent is the running agent.
	Agent AgentControl
	// Log receives one line per change (settings, purges, rules).
	Log zerolog.Logger
	// Version is reported by /api/v1/version.
	Version string
	// StatsDir is where the statistics summaries are kept ("": beside the
	// store, where they count in store.max_size; tests set a folder).
	StatsDir string
	// ExportDir is the exporter's run folder (its export.json status);
	// "": the status shows no exporter.
	ExportDir string
	// ReloadTimeout bounds the wait for the agent to load new settings
	// (default 5s).
	ReloadTimeout time.Duration
}

// API serves the endpoints. It is safe for concurrent use.
type API struct {
	cfg Config

	// changing serializes everything that changes the settings, the rules
	// or the store (updates, the periodic convergence, purges); a one-slot
	// semaphore so that a waiting request can give up.
	changing chan struct{}

	storeMu sync.RWMutex
	store   *storeHandle // the store in use; nil before the first need

	// applyErr is why the last Apply of the rules failed, nil after one
	// that worked: rules out of sync because they cannot be installed are
	// not "waiting", and /status says so.
	applyErr atomic.Pointer[error]

	// warned is the digest of the settings file whose warnings were
	// logged last.
	warned atomic.Pointer[string]
}

// noteApply records the outcome of an Apply of the rules.
func (a *API) noteApply(err error) {
	if err == nil {
		a.applyErr.Store(nil)
		return
	}
	a.applyErr.Store(&err)
}

// lastApplyErr is why the last Apply failed, or nil.
func (a *API) lastApplyErr() error {
	if p := a.applyErr.Load(); p != nil {
		return *p
	}
	return nil
}

// New makes an API.
func New(cfg Config) *API {
	if cfg.ReloadTimeout <= 0 {
		cfg.ReloadTimeout = 5 * time.Second
	}
	return &API{cfg: cfg, changing: make(chan struct{}, 1)}
}

// Close releases the store.
func (a *API) Close() error {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	if a.store == nil {
		return nil
	}
	err := a.store.close()
	a.store = nil
	return err
}

func (a *API) lockChanges(ctx context.Context) error {
	select {
	case a.changing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("another change is in progress: %w", ctx.Err())
	}
}

func (a *API) unlockChanges() { <-a.changing }

// Access says who may use a handler.
type Access struct {
	// Token, when set, must come as "Authorization: Bearer TOKEN": for
	// TCP, where any local user can connect. The unix socket relies on
	// its file mode instead.
	Token string
	// MaxBody bounds request bodies (default 64 KiB).
	MaxBody int64
}

// Handler returns the API's routes behind the access checks, and the Data
// collection page at / and /ui/.
func (a *API) Handler(acc Access) http.Handler {
	// Full paths on one router: gorilla/mux v1.8.1 answers 404 instead
	// of 405 for a wrong method under a PathPrefix subrouter with several
	// routes (gorilla/mux#739).
	r := mux.NewRouter()
	for _, rt := range []struct {
		path    string
		handler http.HandlerFunc
		methods []string
	}{
		{"/health", a.health, []string{http.MethodGet, http.MethodHead}},
		{"/version", a.version, []string{http.MethodGet}},
		{"/openapi.json", serveOpenAPI, []string{http.MethodGet}},
		{"/settings", a.getSettings, []string{http.MethodGet}},
		{"/settings", a.patchSettings, []string{http.MethodPatch}},
		{"/settings/apply", a.applySettings, []string{http.MethodPost}},
		{"/status", a.status, []string{http.MethodGet}},
		{"/events", a.events, []string{http.MethodGet}},
		{"/events/purge", a.purge, []string{http.MethodPost}},
		{"/stats", a.stats, []string{http.MethodGet}},
	} {
		r.HandleFunc("/api/v1"+rt.path, rt.handler).Methods(rt.methods...)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see /api/v1/openapi.json)")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	})
	api := a.guard(acc, r)
	// The page holds no data, so it needs no token (a browser cannot add
	// one to a navigation); it still passes the Host and Origin checks.
	page := a.guard(Access{MaxBody: acc.MaxBody}, http.HandlerFunc(serveUI))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUIPath(r.URL.Path) {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// snapshot is package ucollect as it is now.
type snapshot struct {
	digest   string            // sha256 of the file's bytes (of "" if missing)
	settings settings.Settings // defaults where the file is invalid
	invalid  settings.Errors   // invalid options
	warnings settings.Errors   // options minipot does not read (settings.Warnings)
	parseErr error             // the file does not parse at all
}

func etagOf(digest string) string { return `"` + digest + `"` }

// read takes a snapshot of the settings file, under libuci's shared lock.
func (a *API) read() (snapshot, error) {
	data, err := a.cfg.Dir.ReadFile(settings.Package)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return snapshot{}, fmt.Errorf("read settings: %w", err)
	}
	snap := snapshot{digest: settings.Digest(data), settings: settings.Defaults()}
	p, err := uci.Parse(settings.Package, data)
	if err != nil {
		snap.parseErr = err
		return snap, nil
	}
	snap.warnings = settings.Warnings(p)
	a.logWarnings(snap)
	s, err := settings.FromPackage(p)
	snap.settings = s
	var fe settings.Errors
	if errors.As(err, &fe) {
		snap.invalid = fe
	} else if err != nil {
		snap.parseErr = err
	}
	return snap, nil
}

// logWarnings logs the warnings of a settings file once for each version
// of the file that has any (the API reads the file on every request).
func (a *API) logWarnings(snap snapshot) {
	if len(snap.warnings) == 0 {
		return
	}
	digest := snap.digest
	if last := a.warned.Swap(&digest); last != nil && *last == digest {
		return
	}
	for _, w := range snap.warnings {
		a.cfg.Log.Warn().Str("option", w.Field).Msg("settings: " + w.Message)
	}
}

// apiError is every error response.
type apiError struct {
	Error  string          `json:"error"`
	Fields settings.Errors `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error": "encode the response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}
