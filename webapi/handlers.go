package webapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/export"
	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/redact"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/servicestate"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// VersionDoc is /api/v1/version.
type VersionDoc struct {
	Version string `json:"version"`
	API     string `json:"api"`
	Go      string `json:"go"`
}

func (a *API) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, VersionDoc{Version: a.cfg.Version, API: "v1", Go: runtime.Version()})
}

// storeHandle is an open store: its reader and statistics.
type storeHandle struct {
	path  string
	r     *store.Reader
	stats *store.Stats
}

func (h *storeHandle) close() error {
	return errors.Join(h.stats.Close(), h.r.Close())
}

// storePath is the store of the settings. Not the path in the agent's
// report: the run folder belongs to the unprivileged agent, and the API,
// as root, opens no file a compromised agent names.
func (a *API) storePath(snap snapshot) string { return snap.settings.Store.Path }

// errNoStore reports that the agent has not created the store yet.
var errNoStore = errors.New("no events stored yet")

// useStore returns the store of snap's store.path, opened once and kept,
// its statistics bounded by their share of store.max_size; release it when
// done. A store path that changed closes the old one.
func (a *API) useStore(snap snapshot) (*storeHandle, func(), error) {
	return a.useStorePath(a.storePath(snap), snap)
}

// useStorePath is useStore for the store at path (the one the agent writes,
// for a purge), its statistics bounded by snap's store.max_size.
func (a *API) useStorePath(path string, snap snapshot) (*storeHandle, func(), error) {
	statsMax := store.BudgetFor(int64(snap.settings.Store.MaxSize) << 20).Stats
	for {
		a.storeMu.RLock()
		if h := a.store; h != nil && h.path == path {
			return h, a.storeMu.RUnlock, nil
		}
		a.storeMu.RUnlock()
		a.storeMu.Lock()
		if a.store != nil && a.store.path != path {
			if err := a.store.close(); err != nil {
				a.cfg.Log.Warn().Err(err).Msg("close the previous store")
			}
			a.store = nil
		}
		if a.store == nil {
			r, err := store.OpenReader(path)
			if err != nil {
				a.storeMu.Unlock()
				if errors.Is(err, fs.ErrNotExist) {
					return nil, nil, errNoStore
				}
				return nil, nil, err
			}
			st, err := store.OpenStats(r, a.cfg.StatsDir, statsMax)
			if err != nil {
				r.Close()
				a.storeMu.Unlock()
				return nil, nil, err
			}
			a.store = &storeHandle{path: path, r: r, stats: st}
		}
		a.storeMu.Unlock()
	}
}

// RefreshStats brings the statistics of the store in use up to date and
// checks them against the store: for a periodic background pass, so that
// requests find little to do.
func (a *API) RefreshStats(ctx context.Context) error {
	snap, err := a.read()
	if err != nil {
		return err
	}
	h, release, err := a.useStore(snap)
	if errors.Is(err, errNoStore) {
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	return h.stats.Refresh(ctx, true)
}

// StatusDoc is /api/v1/status.
type StatusDoc struct {
	Version  string         `json:"version"`
	Settings SettingsState  `json:"settings"`
	Agent    AgentState     `json:"agent"`
	Services []ServiceState `json:"services"`
	Firewall FirewallState  `json:"firewall"`
	Store    StoreState     `json:"store"`
	Export   ExportState    `json:"export"`
}

// SettingsState is the file's part of the status.
type SettingsState struct {
	ETag   string          `json:"etag"`
	Valid  bool            `json:"valid"`
	Errors settings.Errors `json:"errors,omitempty"`
	// Warnings are options minipot does not read (settings.Warnings):
	// named, never blocking.
	Warnings       settings.Errors `json:"warnings,omitempty"`
	Enabled        bool            `json:"enabled"`
	LogCredentials bool            `json:"log_credentials"`
}

// AgentState is the agent's part of the status.
type AgentState struct {
	Running      bool             `json:"running"`
	InSync       bool             `json:"in_sync"` // it runs with the file as it is now
	PID          int              `json:"pid,omitempty"`
	Version      string           `json:"version,omitempty"`
	Started      *time.Time       `json:"started,omitempty"`
	Loaded       *time.Time       `json:"loaded,omitempty"`
	ConfigDigest string           `json:"config_digest,omitempty"`
	ConfigError  string           `json:"config_error,omitempty"`
	Connections  *report.Counters `json:"connections,omitempty"`
	Note         string           `json:"note,omitempty"`
}

// ServiceState is one minipot: configured, and listening or not and why.
type ServiceState struct {
	Key         string `json:"key"`
	Label       string `json:"label"`
	Kind        string `json:"kind"`
	Server      string `json:"server"`      // the real server the fake passes for
	Description string `json:"description"` // one sentence for the pages
	Port        int    `json:"port"`
	FakePort    int    `json:"fake_port"`
	Enabled     bool   `json:"enabled"` // by the settings (the master switch included)
	Listening   bool   `json:"listening"`
	Address     string `json:"address,omitempty"`
	Reason      string `json:"reason,omitempty"` // why not listening
	// State is what the service does for the owner, per address family
	// and as a whole (package servicestate): the pages show it as given.
	State servicestate.State `json:"state"`
}

// FirewallState is the rules' part of the status.
type FirewallState struct {
	Managed       bool                `json:"managed"`
	Backend       string              `json:"backend,omitempty"`
	BackendReason string              `json:"backend_reason,omitempty"`
	InSync        bool                `json:"in_sync"`
	Families      []FamilyState       `json:"families,omitempty"`
	Services      []firewall.Decision `json:"services,omitempty"`
	Problem       string              `json:"problem,omitempty"`
	Error         string              `json:"error,omitempty"`
	Note          string              `json:"note,omitempty"`
}

// FamilyState is whether the rules of one IP family are present.
type FamilyState struct {
	Family     string            `json:"family"`
	Installed  bool              `json:"installed"`
	Redirected map[string]uint64 `json:"redirected"`
	Refused    uint64            `json:"refused_direct"`
}

// StoreState is the event store's part of the status.
type StoreState struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Written uint64 `json:"written"`  // by the running agent since it started
	Dropped uint64 `json:"dropped"`  // events the agent could not store (overload)
	MaxSize int64  `json:"max_size"` // the bound of Size in bytes; 0: none
	// Evicted and Recovered come from the agent's report: events deleted
	// to stay within MaxSize, and a damaged store moved aside at start.
	Evicted   uint64 `json:"evicted"`
	Recovered string `json:"recovered,omitempty"`
	// State and Problem come from the agent's report too: "unavailable"
	// while it cannot open the store (its fakes serve on), and why.
	State   string `json:"state,omitempty"`
	Problem string `json:"problem,omitempty"`
	Error   string `json:"error,omitempty"`
	Note    string `json:"note,omitempty"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	snap, err := a.read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	doc := StatusDoc{Version: a.cfg.Version}
	doc.Settings = SettingsState{ETag: etagOf(snap.digest), Valid: snap.parseErr == nil && snap.invalid == nil,
		Errors: snap.invalid, Warnings: snap.warnings, Enabled: snap.settings.Enabled, LogCredentials: snap.settings.LogCredentials}
	if snap.parseErr != nil {
		doc.Settings.Errors = append(doc.Settings.Errors, settings.FieldError{Field: "", Message: "the file does not parse: " + snap.parseErr.Error()})
	}
	rep, repErr := a.cfg.Agent.Report()
	ag := servicestate.AgentOf(rep, repErr, snap.digest)
	if repErr == nil {
		doc.Agent = AgentState{Running: true, InSync: ag.InSync,
			PID: rep.PID, Version: rep.Version, Started: &rep.Started, Loaded: &rep.Loaded,
			ConfigDigest: rep.ConfigDigest, ConfigError: rep.ConfigError, Connections: &rep.Connections}
		if !doc.Agent.InSync && rep.ConfigError == "" {
			doc.Agent.Note = "the settings file changed since the agent loaded it: POST /api/v1/settings/apply (or reload_config) applies it"
		}
	} else {
		doc.Agent.Note = ag.Note
	}
	var fwIn servicestate.Firewall
	doc.Firewall, fwIn = a.firewallState(r.Context(), snap)
	in := servicestate.Input{Settings: snap.settings, Firewall: fwIn, Agent: ag}
	for _, svc := range settings.Services() {
		st := ServiceState{Key: svc.Key, Label: svc.Label, Kind: string(svc.Kind), Server: svc.Server,
			Description: svc.Description, Port: svc.Port, FakePort: snap.settings.FakePort(svc),
			Enabled: snap.settings.ServiceEnabled(svc.Key), State: servicestate.Compute(in, svc)}
		switch {
		case repErr != nil:
			st.Reason = "the agent is not running"
		default:
			st.Reason = "the agent does not report it"
			for _, as := range rep.Services {
				if as.Key == svc.Key {
					st.Listening, st.Address, st.Reason = as.Listening, as.Address, as.Reason
					st.FakePort = as.FakePort
				}
			}
		}
		doc.Services = append(doc.Services, st)
	}
	doc.Store = StoreState{Path: a.storePath(snap), MaxSize: int64(snap.settings.Store.MaxSize) << 20}
	if repErr == nil {
		doc.Store.Written, doc.Store.Dropped = rep.Store.Written, rep.Store.Dropped
		doc.Store.Evicted, doc.Store.Recovered = rep.Store.Evicted, rep.Store.Recovered
		doc.Store.State, doc.Store.Problem = rep.Store.State, rep.Store.Problem
		if rep.Store.Path != "" && !samePath(rep.Store.Path, doc.Store.Path) {
			doc.Store.Note = "the agent writes to " + rep.Store.Path + " until it restarts (a new store.path takes effect then)"
		}
	}
	if h, release, err := a.useStore(snap); err == nil {
		doc.Store.Size, err = h.r.Size()
		release()
		if err != nil {
			doc.Store.Error = err.Error()
		}
	} else {
		doc.Store.Error = err.Error()
	}
	doc.Export = a.exportState(snap.settings)
	writeJSON(w, http.StatusOK, doc)
}

// firewallState is the rules' part of the status, and the same for the
// services' states.
func (a *API) firewallState(ctx context.Context, snap snapshot) (FirewallState, servicestate.Firewall) {
	if a.cfg.Firewall == nil {
		return FirewallState{Note: "the API does not manage the redirect rules (started without --firewall): `minipot firewall status` shows them"}, servicestate.Firewall{}
	}
	fs := FirewallState{Managed: true}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := a.cfg.Firewall.Status(ctx, snap.settings)
	in := servicestate.Firewall{Managed: true, Err: err, Status: st, ApplyErr: a.lastApplyErr()}

	if err != nil {
		fs.Error = err.Error()
		return fs, in
	}
	fs.Backend, fs.BackendReason, fs.InSync = st.Backend, st.BackendReason, st.InSync
	fs.Services, fs.Problem = st.Services, st.Problem
	for _, f := range st.Families {
		red := f.Redirected
		if red == nil {
			red = map[string]uint64{}
		}
		fs.Families = append(fs.Families, FamilyState{Family: f.Family.String(), Installed: f.Installed, Redirected: red, Refused: f.Refused})
	}
	return fs, in
}

// EventDoc is one stored event. Attacker text is given as stored, JSON
// escaped; bytes that are not UTF-8 show as U+FFFD. Username and password
// appear only when they were collected. Its fields are those the exporter
// publishes (export.Fields); the identity, time and count differ: the
// exporter's records carry the sensor and a millisecond time string, and
// leave out a count of 0, where the API gives every event's count (at
// least 1) and the time as stored.
type EventDoc struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	export.Fields
	Count int64 `json:"count"`
}

// EventPage is /api/v1/events.
type EventPage struct {
	Events     []EventDoc `json:"events"`
	NextCursor string     `json:"next_cursor,omitempty"`
	Next       string     `json:"next,omitempty"` // the URL of the next page
}

var actions = []event.Action{event.Connect, event.Login, event.Request, event.Command, event.Invalid, event.Disconnect}

// queryParams checks that q has only known parameters, each at most once.
func queryParams(q url.Values, known ...string) error {
	for k, v := range q {
		found := false
		for _, n := range known {
			found = found || k == n
		}
		if !found {
			return fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
		if len(v) > 1 {
			return fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	return nil
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := queryParams(q, "service", "src_ip", "action", "since", "until", "limit", "cursor"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var f store.Filter
	var errs settings.Errors
	bad := func(field, msg string) { errs = append(errs, settings.FieldError{Field: field, Message: msg}) }
	if v := q.Get("service"); v != "" {
		if _, ok := settings.LookupService(v); !ok {
			bad("service", fmt.Sprintf("unknown service %q", v))
		}
		f.Service = v
	}
	if v := q.Get("src_ip"); v != "" {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			bad("src_ip", fmt.Sprintf("%q is not an IP address", v))
		}
		f.SrcIP = ip.Unmap().String()
	}
	if v := q.Get("action"); v != "" {
		f.Action = event.Action(v)
		known := false
		for _, a := range actions {
			known = known || a == f.Action
		}
		if !known {
			bad("action", fmt.Sprintf("unknown action %q (connect, login, request, command, invalid, disconnect)", v))
		}
	}
	now := time.Now()
	var err error
	if f.Since, err = parseTime(q.Get("since"), now); err != nil {
		bad("since", err.Error())
	}
	if f.Until, err = parseTime(q.Get("until"), now); err != nil {
		bad("until", err.Error())
	}
	f.Limit = store.DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			bad("limit", fmt.Sprintf("must be a number from 1 to %d", store.MaxLimit))
		}
		f.Limit = n
	}
	if f.Cursor, err = store.ParseCursor(q.Get("cursor")); err != nil {
		bad("cursor", "not a cursor this API gave out")
	}
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid query", Fields: errs})
		return
	}
	page := EventPage{Events: []EventDoc{}}
	snap, err := a.read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h, release, err := a.useStore(snap)
	if errors.Is(err, errNoStore) {
		writeJSON(w, http.StatusOK, page)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer release()
	evs, next, err := h.r.Query(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, e := range evs {
		// Credentials off: events stored while they were collected show
		// as they would have been recorded now (purge deletes them).
		if !snap.settings.LogCredentials {
			redact.Event(&e)
		}
		page.Events = append(page.Events, EventDoc{ID: e.ID, Time: e.Time, Fields: export.FieldsOf(&e), Count: max(e.Count, 1)})
	}
	if !next.IsZero() {
		page.NextCursor = next.String()
		q.Set("cursor", page.NextCursor)
		page.Next = "/api/v1/events?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}

// parseTime reads a time parameter: RFC 3339 ("2025-06-01T10:00:00Z"), a
// date ("2025-06-01": local midnight), "today" (local midnight), "now", or
// a duration with its unit ("24h", "7d", "90m") that long ago.
func parseTime(v string, now time.Time) (time.Time, error) {
	switch v {
	case "":
		return time.Time{}, nil
	case "now":
		return now, nil
	case "today":
		y, m, d := now.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, now.Location()), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, now.Location()); err == nil {
		return t, nil
	}
	if last := v[len(v)-1]; last >= 'a' && last <= 'z' {
		if d, err := settings.ParseDuration(v); err == nil {
			return now.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2025-06-01T10:00:00Z), a date (2025-06-01), today, now, or a duration ago (24h, 7d)", v)
}

// StatsDoc is /api/v1/stats.
type StatsDoc struct {
	Since                time.Time `json:"since"`
	Until                time.Time `json:"until"`
	Events               int64     `json:"events"`
	CredentialsCollected bool      `json:"credentials_collected"`
	// CredentialsHidden: collecting is off, and events of the window
	// stored while it was on hold credentials the top lists leave out.
	CredentialsHidden bool `json:"credentials_hidden"`
	// Partial: the statistics outgrew their share of store.max_size and
	// count only the events stored since CountedSince.
	Partial      bool           `json:"partial,omitempty"`
	CountedSince *time.Time     `json:"counted_since,omitempty"`
	Services     []ServiceStats `json:"services"`
	Hourly       []HourStats    `json:"hourly"`
	Top          TopStats       `json:"top"`
}

// ServiceStats counts one service's events in the window. Attempts are
// login and request events: what attackers try once connected.
type ServiceStats struct {
	Service     string           `json:"service"`
	Connections int64            `json:"connections"`
	Attempts    int64            `json:"attempts"`
	Actions     map[string]int64 `json:"actions"`
}

// HourStats is one hour of the window.
type HourStats struct {
	Time        time.Time        `json:"time"`
	Connections int64            `json:"connections"`
	Attempts    int64            `json:"attempts"`
	Services    map[string]int64 `json:"services"` // attempts per service
}

// TopStats are the most frequent values of the window.
type TopStats struct {
	Sources      []ValueCount `json:"sources"` // connections per source address
	Usernames    []ValueCount `json:"usernames"`
	Passwords    []ValueCount `json:"passwords"`
	Pairs        []PairCount  `json:"pairs"`
	URLs         []ValueCount `json:"urls"`          // asked of the HTTP fake
	ProxyTargets []ValueCount `json:"proxy_targets"` // asked of the proxy fakes
}

// ValueCount is one entry of a top list.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// PairCount is one entry of the top username/password pairs.
type PairCount struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Count    int64  `json:"count"`
}

// maxHourly bounds the dense hourly series: a longer window has none.
const maxHourly = 31 * 24

func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := queryParams(q, "since", "until", "top"); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := time.Now()
	var win store.Window
	var errs settings.Errors
	var err error
	if win.Since, err = parseTime(q.Get("since"), now); err != nil {
		errs = append(errs, settings.FieldError{Field: "since", Message: err.Error()})
	}
	if win.Until, err = parseTime(q.Get("until"), now); err != nil {
		errs = append(errs, settings.FieldError{Field: "until", Message: err.Error()})
	}
	win.Top = 10
	if v := q.Get("top"); v != "" {
		if win.Top, err = strconv.Atoi(v); err != nil || win.Top < 1 || win.Top > 1000 {
			errs = append(errs, settings.FieldError{Field: "top", Message: "must be a number from 1 to 1000"})
		}
	}
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid query", Fields: errs})
		return
	}
	snap, err := a.read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var sum store.Summary
	h, release, err := a.useStore(snap)
	switch {
	case errors.Is(err, errNoStore):
		sum.Since, sum.Until = win.Since.Truncate(time.Hour), win.Until
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	default:
		// A first count of a large store takes seconds; a request does
		// not wait for it past this.
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		sum, err = h.stats.Summary(ctx, win)
		cancel()
		release()
		if errors.Is(err, context.DeadlineExceeded) {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the statistics are being counted: retry in a few seconds")
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, statsDoc(sum, snap.settings.LogCredentials))
}

// redactedValues applies the credential rule to each value, adding the
// counts of values it makes equal; the order stays by count.
func redactedValues(vs []ValueCount) []ValueCount {
	out := make([]ValueCount, 0, len(vs))
	at := map[string]int{}
	for _, v := range vs {
		v.Value = redact.Text(v.Value)
		if i, ok := at[v.Value]; ok {
			out[i].Count += v.Count
			continue
		}
		at[v.Value] = len(out)
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b ValueCount) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

func attempts(m map[event.Action]int64) int64 { return m[event.Login] + m[event.Request] }

func statsDoc(sum store.Summary, creds bool) StatsDoc {
	doc := StatsDoc{Since: sum.Since, Until: sum.Until, Events: sum.Events, CredentialsCollected: creds,
		Services: []ServiceStats{}, Hourly: []HourStats{}}
	if sum.Partial {
		doc.Partial, doc.CountedSince = true, &sum.CountedSince
	}
	for _, svc := range settings.Services() {
		m := sum.Services[svc.Key]
		ss := ServiceStats{Service: svc.Key, Connections: m[event.Connect], Attempts: attempts(m), Actions: map[string]int64{}}
		for _, act := range actions {
			ss.Actions[string(act)] = m[act]
		}
		doc.Services = append(doc.Services, ss)
	}
	// A dense series: every hour of the window, zero where nothing came.
	if hours := int(sum.Until.Sub(sum.Since) / time.Hour); !sum.Since.IsZero() && hours <= maxHourly {
		next := 0
		for i := range hours {
			t := sum.Since.Add(time.Duration(i) * time.Hour)
			hs := HourStats{Time: t, Services: map[string]int64{}}
			if next < len(sum.Hours) && sum.Hours[next].Start.Equal(t) {
				for svc, m := range sum.Hours[next].Counts {
					hs.Connections += m[event.Connect]
					hs.Attempts += attempts(m)
					if n := attempts(m); n > 0 {
						hs.Services[svc] = n
					}
				}
				next++
			}
			doc.Hourly = append(doc.Hourly, hs)
		}
	}
	values := func(cs []store.Count) []ValueCount {
		out := make([]ValueCount, 0, len(cs))
		for _, c := range cs {
			out = append(out, ValueCount{Value: c.Value, Count: c.N})
		}
		return out
	}
	doc.Top = TopStats{Sources: values(sum.Sources), Usernames: values(sum.Usernames), Passwords: values(sum.Passwords),
		URLs: values(sum.URLs), ProxyTargets: values(sum.Targets), Pairs: []PairCount{}}
	for _, p := range sum.Pairs {
		doc.Top.Pairs = append(doc.Top.Pairs, PairCount{Username: p.Username, Password: p.Password, Count: p.N})
	}
	if !creds {
		// Counted from events stored while credentials were collected:
		// none of their secrets shows now (as /events, and the exporter).
		doc.CredentialsHidden = len(sum.Usernames)+len(sum.Passwords) > 0
		doc.Top.Usernames, doc.Top.Passwords, doc.Top.Pairs = []ValueCount{}, []ValueCount{}, []PairCount{}
		doc.Top.URLs, doc.Top.ProxyTargets = redactedValues(doc.Top.URLs), redactedValues(doc.Top.ProxyTargets)
	}
	return doc
}

// PurgeRequest is the body of /api/v1/events/purge.
type PurgeRequest struct {
	// Scope is "credentials" (blank every stored username and password,
	// keep the events) or "all" (delete every event).
	Scope string `json:"scope"`
}

// PurgeResult answers a purge.
type PurgeResult struct {
	Scope  string `json:"scope"`
	Purged bool   `json:"purged"`
	Note   string `json:"note,omitempty"`
}

// purgeTarget is the store a purge must act on: the one the agent writes.
// The API opens only the path of the settings (see storePath), so it
// refuses, and says why, whenever that may not be the agent's store: the
// settings file does not parse or holds invalid options (the API would
// fall back to the default path), or the running agent reports another
// path (store.path changed, and the agent writes the old one until it
// restarts). With the agent not running, the settings' store is the one it
// will write.
func (a *API) purgeTarget(snap snapshot) (string, error) {
	const nothing = "Nothing was purged."
	if snap.parseErr != nil {
		return "", fmt.Errorf("the settings file does not parse (%v), so which store the agent writes is unknown: fix the file, then purge. %s", snap.parseErr, nothing)
	}
	if snap.invalid != nil {
		return "", fmt.Errorf("the settings file has invalid options (%v), so which store the agent writes is unknown: fix them, then purge. %s", snap.invalid, nothing)
	}
	path := a.storePath(snap)
	rep, err := a.cfg.Agent.Report()
	if err == nil && rep.Store.Path != "" && !samePath(rep.Store.Path, path) {
		return "", fmt.Errorf("the agent writes %s, but the settings name %s: a new store.path takes effect when the agent restarts. Restart it (/etc/init.d/minipot restart), then purge. %s", rep.Store.Path, path, nothing)
	}
	return path, nil
}

// samePath reports whether two store paths name the same file; the agent
// reports an absolute path.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

func (a *API) purge(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the body is too large")
		return
	}
	var req PurgeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, `the body must be {"scope": "credentials"} or {"scope": "all"}: `+jsonMessage(err))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "more than one JSON value in the body")
		return
	}
	if req.Scope != "credentials" && req.Scope != "all" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid purge request",
			Fields: settings.Errors{{Field: "scope", Message: `must be "credentials" or "all"`}}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
	defer cancel()
	if err := a.lockChanges(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer a.unlockChanges()
	snap, err := a.read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	path, err := a.purgeTarget(snap)
	if err != nil {
		a.cfg.Log.Warn().Err(err).Str("scope", req.Scope).Str("peer", peerOf(r)).Msg("purge refused")
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	res := PurgeResult{Scope: req.Scope, Purged: true}
	h, release, err := a.useStorePath(path, snap)
	if errors.Is(err, errNoStore) {
		res.Note = "no events stored yet"
		writeJSON(w, http.StatusOK, res)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer release()
	// Before and after: a statistics refresh running meanwhile must not
	// keep what was purged.
	h.stats.Invalidate()
	if req.Scope == "all" {
		err = h.r.PurgeAll(ctx)
	} else {
		err = h.r.PurgeCredentials(ctx)
	}
	h.stats.Invalidate()
	if err != nil {
		a.cfg.Log.Error().Err(err).Str("scope", req.Scope).Str("peer", peerOf(r)).Msg("purge failed")
		writeError(w, http.StatusInternalServerError, "purge: "+err.Error())
		return
	}
	a.cfg.Log.Info().Str("scope", req.Scope).Str("peer", peerOf(r)).Str("store", h.path).Msg("events purged")
	res.Note = "events the agent holds in memory (at most a second's worth) are written after the purge"
	writeJSON(w, http.StatusOK, res)
}
