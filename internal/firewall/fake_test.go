package firewall

import (
	"context"
	"errors"
	"testing"

	"github.com/minipot/minipot/internal/settings"
)

func TestFake(t *testing.T) {
	ctx := context.Background()
	var f Fake
	s := settings.Defaults()
	if st, _ := f.Status(ctx, s); st.InSync {
		t.Error("in sync before any apply")
	}
	if _, err := f.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Status(ctx, s); !st.InSync || len(st.Services) != 2*len(settings.Services()) {
		t.Errorf("after apply: %+v", st)
	}
	other := s
	other.Disabled = []string{"23tcp"}
	if st, _ := f.Status(ctx, other); st.InSync {
		t.Error("in sync with other settings")
	}
	f.Remove(ctx)
	off := s
	off.Enabled = false
	if st, _ := f.Status(ctx, off); !st.InSync || f.Removed() != 1 || len(f.Applied()) != 1 {
		t.Errorf("after remove: %+v", st)
	}
	f.Err = errors.New("boom")
	if _, err := f.Apply(ctx, s); err == nil {
		t.Error("Err not returned")
	}
}
