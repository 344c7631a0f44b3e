package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/export"
	"github.com/minipot/minipot/internal/store"
)

// exportBatch is the batch size the tests configure: duplicates after an
// outage are bounded by it.
const exportBatch = 50

// writeBacklog stores n events through the store's API beside the
// running agent, each with a credential pair naming the sensor.
func writeBacklog(t testing.TB, db, tag string, n int) {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i := range n {
		st.Emit(&event.Event{Time: base.Add(time.Duration(i) * time.Millisecond), Service: "23tcp", Port: 23,
			SrcIP: fmt.Sprintf("198.51.100.%d", i%200+1), SrcPort: 40000 + i%20000, ConnID: int64(i), Action: event.Login,
			Username: fmt.Sprintf("user-%s-%d", tag, i), Password: "secret-" + tag})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Dropped() != 0 {
		t.Fatalf("backlog: %d events dropped", st.Dropped())
	}
}

// storedIDs lists every id in a store.
func storedIDs(t *testing.T, db string) []int64 {
	t.Helper()
	r, err := store.OpenReader(db)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []int64
	after := int64(0)
	for {
		p, err := r.After(context.Background(), after, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 0 {
			return ids
		}
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		after = p.Events[len(p.Events)-1].ID
	}
}

// copyOwned copies src to dst with mode, owned by the agent's user.
func copyOwned(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dst, mode)
	chownNobody(t, dst)
}

// exportAgent starts an agent whose config also has section export
// pointing at b, with its own broker account.
func exportAgent(t *testing.T, b *broker, user, pass string, opts map[string]string) *agentProc {
	t.Helper()
	all := map[string]string{
		"export.enabled": "1", "export.broker": b.URL(), "export.batch_size": fmt.Sprint(exportBatch),
		"export.rate": "300", "export.interval": "200ms",
	}
	for k, v := range opts {
		all[k] = v
	}
	a := startAgent(t, all)
	copyOwned(t, filepath.Join(b.Dir, "ca.pem"), filepath.Join(a.Dir, "ca.pem"), 0o644)
	os.WriteFile(filepath.Join(a.Dir, "mqtt.auth"), []byte(user+"\n"+pass+"\n"), 0o600)
	chownNobody(t, filepath.Join(a.Dir, "mqtt.auth"))
	a.UCI("set", "ucollect.export.ca_file="+filepath.Join(a.Dir, "ca.pem"))
	a.UCI("set", "ucollect.export.auth_file="+filepath.Join(a.Dir, "mqtt.auth"))
	a.UCI("commit", "ucollect")
	return a
}

func exportStatus(t *testing.T, x *exporterProc) export.Status {
	t.Helper()
	st, err := x.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestExportThreeRoutersThroughOutage: three routers (agents with stores,
// three sensor ids) export to a real mosquitto with TLS and passwords
// while mosquitto_sub collects. The broker is stopped in the middle of
// the backlog and started again later; meanwhile attackers keep coming
// and two exporters are restarted (one killed). The broker is frozen
// before the kill, so every exporter has a batch awaiting acknowledgement. In the end every stored
// event of every router was received, duplicates stay within one batch,
// and credentials appear exactly where both switches are on.
func TestExportThreeRoutersThroughOutage(t *testing.T) {
	const backlog = 1500
	users := map[string]string{"collector": "c-pass", "r0": "p0", "r1": "p1", "r2": "p2"}
	b := startBroker(t, users)
	sub := startSubscriber(t, b, "collector", "c-pass", "minipot/v1/+/events")

	type router struct {
		a      *agentProc
		x      *exporterProc
		tag    string
		sensor string
		creds  bool // credentials expected in the records
	}
	routers := []*router{
		{tag: "r0", creds: true},
		{tag: "r1"},
		{tag: "r2"},
	}
	opts := []map[string]string{
		{"fakes.log_credentials": "1", "export.credentials": "1", "export.sensor_id": fmt.Sprintf("sensor-a-%d", os.Getpid())},
		{"fakes.log_credentials": "1", "export.credentials": "0", "export.sensor_id": fmt.Sprintf("sensor-b-%d", os.Getpid())},
		// No sensor id: a random one. Credentials stored before the owner
		// switched collection off must not leave with export.credentials on.
		{"fakes.log_credentials": "0", "export.credentials": "1"},
	}
	for i, r := range routers {
		r.a = exportAgent(t, b, r.tag, users[r.tag], opts[i])
		writeBacklog(t, r.a.DB, r.tag, backlog)
	}
	for _, r := range routers {
		r.x = startExporter(t, r.a.Dir)
	}
	for _, r := range routers {
		eventually(t, 10*time.Second, "exporter reports its sensor", func() (bool, string) {
			st, err := r.x.Status()
			r.sensor = st.Sensor
			return err == nil && st.Sensor != "", fmt.Sprint(err)
		})
	}
	if !strings.HasPrefix(routers[0].sensor, "sensor-a-") || len(routers[2].sensor) != 16 {
		t.Fatalf("sensor ids %q %q %q", routers[0].sensor, routers[1].sensor, routers[2].sensor)
	}

	// Stop the broker while the backlog is being published.
	eventually(t, 30*time.Second, "part of the backlog received", func() (bool, string) {
		n := len(sub.Records(t))
		return n >= backlog/2, fmt.Sprintf("%d records", n)
	})
	// Freeze the broker first, so that each exporter has a batch on the
	// wire whose acknowledgements never come, then kill it: the kill
	// lands in the middle of a batch, not between two.
	b.cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(600 * time.Millisecond)
	b.Stop(syscall.SIGKILL)
	received := len(sub.Records(t))
	if received >= 3*backlog {
		t.Fatalf("everything (%d) was received before the broker stopped: the outage tests nothing", received)
	}
	t.Logf("broker stopped after %d of %d records", received, 3*backlog)

	// Offline: attackers keep coming, the exporters notice, two restart.
	for _, r := range routers {
		for i := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := bot.Attempt(ctx, r.a.Addr("23tcp"), "root", fmt.Sprintf("offline-%s-%d", r.tag, i))
			cancel()
			if err != nil || res.Outcome != bot.Rejected {
				t.Fatalf("%s: the fakes must keep serving while the broker is down: %+v %v", r.tag, res, err)
			}
		}
		eventually(t, 15*time.Second, r.tag+" exporter sees the outage", func() (bool, string) {
			st := exportStatus(t, r.x)
			return !st.MQTT.Connected && st.MQTT.LastError != "" && st.MQTT.Waiting > 0, fmt.Sprintf("%+v", st.MQTT)
		})
		if !strings.Contains(r.x.stderr.String(), "waiting for PUBACK") {
			t.Errorf("%s: the broker did not die in the middle of a batch:\n%s", r.tag, r.x.stderr.String())
		}
	}
	routers[0].x.Stop(syscall.SIGKILL)
	routers[1].x.Stop(syscall.SIGTERM)
	routers[0].x = startExporter(t, routers[0].a.Dir)
	routers[1].x = startExporter(t, routers[1].a.Dir)
	time.Sleep(2 * time.Second)
	b.Start()
	sub.Reconnect(t)

	// Every stored event arrives.
	for _, r := range routers {
		r.a.Stop() // flushes its queue: every event is in the store now
	}
	want := map[string][]int64{}
	for _, r := range routers {
		want[r.sensor] = storedIDs(t, r.a.DB)
		if len(want[r.sensor]) != backlog+3*3*2 && len(want[r.sensor]) < backlog+3 {
			t.Logf("%s: %d events stored", r.tag, len(want[r.sensor]))
		}
	}
	var recs []export.Record
	eventually(t, 90*time.Second, "every stored event received", func() (bool, string) {
		recs = sub.Records(t)
		got := map[string]map[int64]bool{}
		for _, rec := range recs {
			if got[rec.Sensor] == nil {
				got[rec.Sensor] = map[int64]bool{}
			}
			got[rec.Sensor][rec.ID] = true
		}
		var missing []string
		for sensor, ids := range want {
			n := 0
			for _, id := range ids {
				if !got[sensor][id] {
					n++
				}
			}
			if n > 0 {
				missing = append(missing, fmt.Sprintf("%s: %d of %d missing", sensor, n, len(ids)))
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})

	// Duplicates: at most the batch in flight when the broker went away,
	// plus what the killed broker itself delivers again to the subscriber
	// (its in-flight window, restored from its saved state).
	seen := map[string]int{}
	dups := map[string]int{}
	for _, rec := range recs {
		k := fmt.Sprintf("%s/%d", rec.Sensor, rec.ID)
		if seen[k]++; seen[k] > 1 {
			dups[rec.Sensor]++
		}
		if _, ok := want[rec.Sensor]; !ok {
			t.Errorf("a record of unknown sensor %q", rec.Sensor)
		}
	}
	for s, n := range dups {
		if n > exportBatch+brokerInflight {
			t.Errorf("%s: %d duplicates, more than one batch (%d) and the broker's in-flight window (%d)", s, n, exportBatch, brokerInflight)
		}
	}
	t.Logf("received %d records for %d events; duplicates %v", len(recs), len(want[routers[0].sensor])+len(want[routers[1].sensor])+len(want[routers[2].sensor]), dups)

	// Credentials: only where fakes.log_credentials and export.credentials
	// are both on.
	raw := sub.out.String()
	for _, r := range routers {
		withUser := 0
		for _, rec := range recs {
			if rec.Sensor == r.sensor && (rec.Username != "" || rec.Password != "") {
				withUser++
			}
		}
		if r.creds && withUser < backlog {
			t.Errorf("%s: credentials exported with both switches on in %d records, want every login's", r.tag, withUser)
		}
		if !r.creds && (withUser > 0 || strings.Contains(raw, "secret-"+r.tag) || strings.Contains(raw, "offline-"+r.tag)) {
			t.Errorf("%s: credentials left the router with a switch off (%d records)", r.tag, withUser)
		}
	}

	// Every message matches the published schema.
	validateRecords(t, raw)

	for _, r := range routers {
		eventually(t, 10*time.Second, r.tag+" status after the outage", func() (bool, string) {
			st := exportStatus(t, r.x)
			m := st.MQTT
			return m.Connected && m.Waiting == 0 && m.LastExport != nil && m.LastError == "" && m.Lost == 0, fmt.Sprintf("%+v", m)
		})
	}
}

// validateRecords checks every line of raw against docs/export.schema.json.
func validateRecords(t *testing.T, raw string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	sch, err := c.Compile("../docs/export.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(raw, "\n") {
		if line == "" {
			continue
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Fatalf("record does not match docs/export.schema.json: %v\n%s", err, line)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no records to validate")
	}
}
