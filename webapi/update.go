package webapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/minipot/minipot/agent"
	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// UpdateResult answers a settings update (and /settings/apply).
type UpdateResult struct {
	Changed  bool        `json:"changed"`
	Changes  []Change    `json:"changes"`
	ETag     string      `json:"etag"`
	Settings SettingsDoc `json:"settings"`
	Applied  Applied     `json:"applied"`
	// Error and RolledBack are set when applying failed.
	Error      string `json:"error,omitempty"`
	RolledBack bool   `json:"rolled_back,omitempty"`
}

// Applied says, per part, what took effect.
type Applied struct {
	File     FileResult     `json:"file"`
	Firewall FirewallResult `json:"firewall"`
	Agent    AgentResult    `json:"agent"`
}

// FileResult is the UCI file's part.
type FileResult struct {
	Written bool   `json:"written"`
	Digest  string `json:"digest"`
}

// FirewallResult is the redirect rules' part.
type FirewallResult struct {
	Managed bool     `json:"managed"` // false: the API was started without --firewall
	Applied bool     `json:"applied"`
	Backend string   `json:"backend,omitempty"`
	Ops     []string `json:"ops,omitempty"` // the iptables commands run
	Error   string   `json:"error,omitempty"`
}

// AgentResult is the agent's part.
type AgentResult struct {
	Running  bool                  `json:"running"`
	Applied  bool                  `json:"applied"` // the agent reports the new file's digest
	PID      int                   `json:"pid,omitempty"`
	Services []agent.ServiceStatus `json:"services,omitempty"`
	Note     string                `json:"note,omitempty"`
	Error    string                `json:"error,omitempty"`
}

// statusError is a failed request: its status, message and fields.
type statusError struct {
	status int
	msg    string
	fields settings.Errors
	etag   string // the current ETag, for 412
}

func (e *statusError) Error() string { return e.msg }

var errNoChange = errors.New("nothing to change")

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	snap, err := a.read()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if snap.parseErr != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("%s/%s does not parse, fix it first: %v", a.cfg.Dir.Path, settings.Package, snap.parseErr))
		return
	}
	doc := docOf(snap.settings)
	doc.Errors = snap.invalid
	w.Header().Set("ETag", etagOf(snap.digest))
	writeJSON(w, http.StatusOK, doc)
}

func (a *API) patchSettings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "read the body: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
	defer cancel()
	res, err := a.Update(ctx, body, r.Header.Get("If-Match"), peerOf(r))
	a.writeUpdate(w, res, err)
}

func (a *API) applySettings(w http.ResponseWriter, r *http.Request) {
	// The body carries nothing, but must be JSON like every change's.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "the body is too large")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 25*time.Second)
	defer cancel()
	res, err := a.ApplyFile(ctx, peerOf(r))
	a.writeUpdate(w, res, err)
}

func (a *API) writeUpdate(w http.ResponseWriter, res UpdateResult, err error) {
	var se *statusError
	switch {
	case errors.As(err, &se):
		if se.etag != "" {
			w.Header().Set("ETag", se.etag)
		}
		writeJSON(w, se.status, apiError{Error: se.msg, Fields: se.fields})
	case err != nil && res.ETag == "":
		writeError(w, http.StatusInternalServerError, err.Error())
	case err != nil:
		// Applying failed; res says what was restored.
		w.Header().Set("ETag", res.ETag)
		writeJSON(w, http.StatusInternalServerError, res)
	default:
		w.Header().Set("ETag", res.ETag)
		writeJSON(w, http.StatusOK, res)
	}
}

// Update applies a partial settings document: validated as a whole, then
// written to the UCI file atomically (under libuci's lock, checking
// ifMatch against the file's digest there), then the firewall converged
// and the agent reloaded. If applying fails, the previous file is
// restored, the rules converged back and the agent reloaded again; the
// error says why. Updates are serialized.
func (a *API) Update(ctx context.Context, body []byte, ifMatch, peer string) (UpdateResult, error) {
	patch, errs := decodePatch(body)
	if errs != nil {
		return UpdateResult{}, &statusError{status: http.StatusBadRequest, msg: "invalid settings document", fields: errs}
	}
	if err := a.lockChanges(ctx); err != nil {
		return UpdateResult{}, &statusError{status: http.StatusServiceUnavailable, msg: err.Error()}
	}
	defer a.unlockChanges()
	before, beforeErr := a.cfg.Agent.Report()

	var (
		old, next settings.Settings
		oldBytes  []byte
		newBytes  []byte
		changes   []Change
	)
	path, err := a.cfg.Dir.File(settings.Package)
	if err != nil {
		return UpdateResult{}, err
	}
	err = a.cfg.Dir.Update(settings.Package, func(p *uci.Package) error {
		// Under the exclusive lock the file cannot change: its bytes
		// here are the ones Update parsed.
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read settings: %w", err)
		}
		cur := settings.Digest(data)
		if ifMatch != "" && !etagMatches(ifMatch, cur) {
			return &statusError{status: http.StatusPreconditionFailed, etag: etagOf(cur),
				msg: "the settings changed since you read them (If-Match " + ifMatch + ", now " + etagOf(cur) + "): read them again and retry"}
		}
		var invalid settings.Errors
		old, err = settings.FromPackage(p)
		if !errors.As(err, &invalid) && err != nil {
			return err
		}
		var touched []string
		var perrs settings.Errors
		next, touched, perrs = applyPatch(old, patch)
		if perrs != nil {
			return &statusError{status: http.StatusBadRequest, msg: "invalid settings", fields: perrs}
		}
		// The file's invalid options that the request does not set are
		// the file's problem (409); the request's invalid values its own
		// (400).
		var theirs settings.Errors
		for _, fe := range invalid {
			if !slices.Contains(touched, fe.Field) {
				theirs = append(theirs, fe)
			}
		}
		if err := next.Validate(); err != nil {
			var mine settings.Errors
			for _, fe := range err.(settings.Errors) {
				if slices.Contains(touched, fe.Field) {
					mine = append(mine, fe)
				} else {
					theirs = append(theirs, fe)
				}
			}
			if mine != nil {
				return &statusError{status: http.StatusBadRequest, msg: "invalid settings", fields: mine}
			}
		}
		if theirs != nil {
			return &statusError{status: http.StatusConflict, fields: slices.CompactFunc(theirs, func(a, b settings.FieldError) bool { return a == b }),
				msg: "the settings file has invalid options: set them in this request or fix the file"}
		}
		changes = diffSettings(old, next)
		// An invalid option the request sets is removed first, so that it
		// is rewritten even when the new value equals the default that
		// FromPackage showed in its place.
		for _, fe := range invalid {
			if !slices.Contains(touched, fe.Field) {
				continue
			}
			secName, opt, _ := strings.Cut(fe.Field, ".")
			if sec := p.Section(secName); sec != nil {
				if v, ok := sec.Get(opt); ok {
					changes = append(changes, Change{Field: fe.Field, From: v, To: valueOf(next, fe.Field)})
				}
				sec.Delete(opt)
			}
		}
		if len(changes) == 0 {
			return errNoChange
		}
		if err := next.Apply(p); err != nil {
			return &statusError{status: http.StatusBadRequest, msg: err.Error()}
		}
		if _, err := settings.FromPackage(p); err != nil {
			return fmt.Errorf("the new settings do not read back: %w", err)
		}
		oldBytes, newBytes = data, p.Marshal()
		return nil
	})
	var se *statusError
	switch {
	case errors.Is(err, errNoChange):
		return a.unchanged(ctx, before, beforeErr)
	case errors.As(err, &se):
		return UpdateResult{}, err
	case err != nil:
		var pe *uci.ParseError
		if errors.As(err, &pe) {
			return UpdateResult{}, &statusError{status: http.StatusConflict, msg: "the settings file does not parse, fix it first: " + err.Error()}
		}
		return UpdateResult{}, fmt.Errorf("write settings: %w", err)
	}
	digest := settings.Digest(newBytes)
	res := UpdateResult{Changed: true, Changes: changes, ETag: etagOf(digest), Settings: docOf(next),
		Applied: Applied{File: FileResult{Written: true, Digest: digest}}}
	log := a.cfg.Log.Info().Str("peer", peer).Str("digest", digest[:12])
	for _, c := range changes {
		log = log.Str(c.Field, c.From+" -> "+c.To)
	}
	log.Msg("settings changed")

	failure := a.converge(ctx, &res, next, digest, before, beforeErr)
	if failure == nil {
		return res, nil
	}
	a.cfg.Log.Error().Err(failure).Msg("applying the settings failed: restoring the previous ones")
	res.Error = "applying the settings failed: " + failure.Error()
	restored, rerr := a.rollback(ctx, &res, old, oldBytes, digest)
	res.RolledBack = restored
	switch {
	case restored && rerr == nil:
		res.Error += "; the previous settings were restored"
		a.cfg.Log.Info().Str("peer", peer).Msg("previous settings restored")
	case restored:
		res.Error += "; the previous file and rules were restored, but " + rerr.Error()
		a.cfg.Log.Error().Err(rerr).Msg("previous file and rules restored, the agent did not follow")
	default:
		res.Error += "; restoring the previous settings failed too: " + rerr.Error()
		a.cfg.Log.Error().Err(rerr).Msg("restoring the previous settings failed")
	}
	return res, failure
}

// unchanged answers an update that changes nothing: the file stays as it
// is, and the response tells where things stand.
func (a *API) unchanged(ctx context.Context, before agent.Report, beforeErr error) (UpdateResult, error) {
	snap, err := a.read()
	if err != nil {
		return UpdateResult{}, err
	}
	res := UpdateResult{Changes: []Change{}, ETag: etagOf(snap.digest), Settings: docOf(snap.settings),
		Applied: Applied{File: FileResult{Digest: snap.digest}}}
	res.Applied.Firewall.Managed = a.cfg.Firewall != nil
	res.Applied.Agent = agentResult(before, beforeErr, snap.digest)
	return res, nil
}

// ApplyFile converges the firewall and reloads the agent to the file as
// it is: for a change made with `uci set` and `uci commit` where nothing
// runs reload_config. There is nothing to roll back to.
func (a *API) ApplyFile(ctx context.Context, peer string) (UpdateResult, error) {
	if err := a.lockChanges(ctx); err != nil {
		return UpdateResult{}, &statusError{status: http.StatusServiceUnavailable, msg: err.Error()}
	}
	defer a.unlockChanges()
	snap, err := a.read()
	if err != nil {
		return UpdateResult{}, err
	}
	if snap.parseErr != nil || snap.invalid != nil {
		return UpdateResult{}, &statusError{status: http.StatusConflict, fields: snap.invalid,
			msg: "the settings file is invalid, fix it first"}
	}
	before, beforeErr := a.cfg.Agent.Report()
	res := UpdateResult{Changes: []Change{}, ETag: etagOf(snap.digest), Settings: docOf(snap.settings),
		Applied: Applied{File: FileResult{Digest: snap.digest}}}
	a.cfg.Log.Info().Str("peer", peer).Str("digest", snap.digest[:12]).Msg("applying the settings file")
	if err := a.converge(ctx, &res, snap.settings, snap.digest, before, beforeErr); err != nil {
		res.Error = "applying the settings failed: " + err.Error()
		return res, err
	}
	return res, nil
}

// converge brings the firewall and the agent to s (whose file has digest)
// and fills res; the error is why they could not be.
func (a *API) converge(ctx context.Context, res *UpdateResult, s settings.Settings, digest string, before agent.Report, beforeErr error) error {
	fw := &res.Applied.Firewall
	fw.Managed = a.cfg.Firewall != nil
	if fw.Managed {
		ch, err := a.cfg.Firewall.Apply(ctx, s)
		fw.Backend = ch.Backend
		for _, op := range ch.Ops {
			fw.Ops = append(fw.Ops, op.String())
		}
		if err != nil {
			fw.Error = err.Error()
			return fmt.Errorf("firewall: %w", err)
		}
		fw.Applied = true
		if len(ch.Ops) > 0 {
			a.cfg.Log.Info().Str("backend", ch.Backend).Int("changes", len(ch.Ops)).Msg("firewall rules updated")
		}
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.ReloadTimeout)
	defer cancel()
	rep, err := a.cfg.Agent.Reload(rctx, digest)
	ag := &res.Applied.Agent
	switch {
	case errors.Is(err, ErrAgentNotRunning):
		ag.Note = "the agent is not running: it loads these settings when it starts"
		return nil
	case err != nil:
		ag.Running, ag.PID = true, rep.PID
		if snap, rerr := a.read(); rerr == nil && snap.digest != digest {
			// Someone changed the file again meanwhile; the agent
			// follows them, and this change is not to blame.
			ag.Note = "the settings file was changed again meanwhile; the agent loaded that version"
			return nil
		}
		ag.Error = err.Error()
		return fmt.Errorf("agent: %w", err)
	}
	*ag = agentResult(rep, nil, digest)
	if rep.Store.Path != "" && !samePath(rep.Store.Path, s.Store.Path) {
		// Not an error: the agent cannot move its open store; say so
		// rather than let "applied" suggest the new path is in use.
		ag.Note = "store.path takes effect when the agent restarts: until then it writes " + rep.Store.Path
	}
	if rep.ConfigError != "" {
		ag.Error = rep.ConfigError
		return fmt.Errorf("the agent refused the settings: %s", rep.ConfigError)
	}
	// A service that should listen and cannot (its fake port is taken)
	// fails the change, unless it failed already before.
	for _, st := range rep.Services {
		if !s.ServiceEnabled(st.Key) || st.Listening {
			continue
		}
		failedBefore := false
		if beforeErr == nil {
			for _, b := range before.Services {
				if b.Key == st.Key && !b.Listening && b.FakePort == st.FakePort && b.Reason != "disabled" && b.Reason != "feature off" {
					failedBefore = true
				}
			}
		}
		if !failedBefore {
			ag.Error = fmt.Sprintf("%s cannot listen on port %d: %s", st.Key, st.FakePort, st.Reason)
			return errors.New("agent: " + ag.Error)
		}
	}
	return nil
}

func agentResult(rep agent.Report, err error, digest string) AgentResult {
	if err != nil {
		return AgentResult{Note: "the agent is not running"}
	}
	return AgentResult{Running: true, Applied: rep.ConfigDigest == digest && rep.ConfigError == "",
		PID: rep.PID, Services: rep.Services}
}

// rollback restores oldBytes' content if the file still holds what this
// update wrote (newDigest), converges the rules back to old and reloads
// the agent. restored reports that the file and the rules are back; err
// also tells when the agent did not confirm.
func (a *API) rollback(ctx context.Context, res *UpdateResult, old settings.Settings, oldBytes []byte, newDigest string) (restored bool, err error) {
	// The request's context may be what ran out; the rollback gets its
	// own time.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*a.cfg.ReloadTimeout+10*time.Second)
	defer cancel()
	path, err := a.cfg.Dir.File(settings.Package)
	if err != nil {
		return false, err
	}
	var digest string
	err = a.cfg.Dir.Update(settings.Package, func(p *uci.Package) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		if settings.Digest(data) != newDigest {
			return errors.New("the file was changed by someone else meanwhile; it is left as they wrote it")
		}
		prev, err := uci.Parse(settings.Package, oldBytes)
		if err != nil {
			return fmt.Errorf("parse the previous settings: %w", err)
		}
		*p = *prev
		digest = settings.Digest(p.Marshal())
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("restore the file: %w", err)
	}
	res.ETag = etagOf(digest)
	res.Settings = docOf(old)
	res.Applied.File = FileResult{Written: true, Digest: digest}
	res.Applied.Firewall.Applied = false
	res.Applied.Agent.Applied = false
	if a.cfg.Firewall != nil {
		if _, err := a.cfg.Firewall.Apply(ctx, old); err != nil {
			return false, fmt.Errorf("converge the rules back: %w", err)
		}
	}
	rctx, cancel2 := context.WithTimeout(ctx, a.cfg.ReloadTimeout)
	defer cancel2()
	if _, err := a.cfg.Agent.Reload(rctx, digest); err != nil && !errors.Is(err, ErrAgentNotRunning) {
		return true, fmt.Errorf("the agent did not confirm loading them: %w", err)
	}
	return true, nil
}

// etagMatches compares an If-Match header with the file's digest: "*", or
// a list of strong ETags (a bare digest is accepted too, for scripts).
func etagMatches(header, digest string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == etagOf(digest) || t == digest {
			return true
		}
	}
	return false
}

// valueOf is one option of s as UCI writes it.
func valueOf(s settings.Settings, field string) string {
	for _, f := range flatten(s) {
		if f[0] == field {
			return f[1]
		}
	}
	return ""
}

// Converge applies the current file to the firewall, for the periodic
// pass: listeners come and go, and the rules follow them only when applied
// (docs/firewall.md). It does nothing when the API does not manage the
// rules or the file is invalid.
func (a *API) Converge(ctx context.Context) (firewall.Changes, error) {
	if a.cfg.Firewall == nil {
		return firewall.Changes{}, nil
	}
	if err := a.lockChanges(ctx); err != nil {
		return firewall.Changes{}, err
	}
	defer a.unlockChanges()
	snap, err := a.read()
	if err != nil {
		return firewall.Changes{}, err
	}
	if snap.parseErr != nil || snap.invalid != nil {
		return firewall.Changes{}, fmt.Errorf("settings file invalid: not converging the rules: %v", errors.Join(snap.parseErr, snap.invalid))
	}
	ch, err := a.cfg.Firewall.Apply(ctx, snap.settings)
	if err == nil && len(ch.Ops) > 0 {
		a.cfg.Log.Info().Str("backend", ch.Backend).Int("changes", len(ch.Ops)).Msg("firewall rules converged")
	}
	return ch, err
}
