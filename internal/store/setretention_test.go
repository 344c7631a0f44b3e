package store

import (
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// TestSetRetention: limits set on a running store (the agent's SIGHUP)
// apply from the next batch on.
func TestSetRetention(t *testing.T) {
	s, path := openTest(t, Options{BatchSize: 16})
	emit := func(n int) {
		for i := range n {
			s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect, ConnID: int64(i)})
		}
		flush(t, s)
	}
	count := func() (n int64) {
		if err := rawDB(t, path).QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	emit(200)
	if n := count(); n != 200 {
		t.Fatalf("%d events without limits, want 200", n)
	}
	s.SetRetention(0, 50)
	emit(16)
	deadline := time.Now().Add(5 * time.Second)
	for count() != 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n != 50 {
		t.Fatalf("%d events after SetRetention(0, 50), want 50", n)
	}
	s.SetRetention(0, 0)
	emit(100)
	if n := count(); n != 150 {
		t.Fatalf("%d events after lifting the limit, want 150", n)
	}
}
