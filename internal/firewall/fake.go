package firewall

import (
	"context"
	"slices"
	"sync"

	"github.com/minipot/minipot/internal/settings"
)

// Fake is a Firewall for tests of its callers (the control API): it records
// what it is asked and answers with Err, with the decisions the real one
// would make on a router where nothing listens.
type Fake struct {
	Err error // returned by every call when set

	mu        sync.Mutex
	applied   []settings.Settings
	removed   int
	installed *settings.Settings // the settings in force; nil: no rules
}

var _ Firewall = (*Fake)(nil)

func fakeFacts() Facts {
	return Facts{WANDevices: []string{"wan"}, WANSource: "fake", Listeners: Listeners{}}
}

// Apply records s.
func (f *Fake) Apply(_ context.Context, s settings.Settings) (Changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return Changes{}, f.Err
	}
	p, err := MakePlan(s, fakeFacts())
	if err != nil {
		return Changes{}, err
	}
	f.applied = append(f.applied, s)
	f.installed = &s
	return Changes{Backend: "fake", Services: p.Decisions}, nil
}

// Remove records the call.
func (f *Fake) Remove(context.Context) (Changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return Changes{}, f.Err
	}
	f.removed++
	f.installed = nil
	return Changes{Backend: "fake"}, nil
}

// Status reports the rules of the last Apply as installed; in sync when s
// calls for the same rules.
func (f *Fake) Status(_ context.Context, s settings.Settings) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return Status{}, f.Err
	}
	st := Status{Backend: "fake", Enabled: s.Enabled, WANDevices: []string{"wan"}, WANSource: "fake"}
	p, err := MakePlan(s, fakeFacts())
	if err != nil {
		st.Problem = err.Error()
		return st, nil
	}
	st.Services = p.Decisions
	var have Plan
	if f.installed != nil {
		have, _ = MakePlan(*f.installed, fakeFacts())
	}
	st.InSync = true
	for _, fam := range families {
		x, y := p.Rules[fam], have.Rules[fam]
		st.InSync = st.InSync && slices.Equal(x.NAT, y.NAT) && slices.Equal(x.Filter, y.Filter)
	}
	return st, nil
}

// Applied returns the settings of every successful Apply so far.
func (f *Fake) Applied() []settings.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

// Removed counts the Remove calls.
func (f *Fake) Removed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed
}
