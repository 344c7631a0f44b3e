package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/export"
)

// TestExportErrorsAreReported: a broker URL that is no MQTT broker, a
// certificate from another CA, an unreachable broker and a refused
// password each give a clear error in the exporter's status and log, and
// the agent keeps serving the fakes meanwhile.
func TestExportErrorsAreReported(t *testing.T) {
	b := startBroker(t, map[string]string{"r0": "right"})
	a := exportAgent(t, b, "r0", "right", nil)
	writeBacklog(t, a.DB, "r0", 10)
	otherCA := t.TempDir()
	testPKI(t, otherCA, "other")
	copyOwned(t, filepath.Join(otherCA, "ca.pem"), filepath.Join(a.Dir, "other-ca.pem"), 0o644)
	closed := freePort(t)
	api := startAPI(t, a)

	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"not a broker", []string{"ucollect.export.broker=mqtts://" + a.Addr("80tcp")}, "tls: "},
		{"bad certificate", []string{"ucollect.export.ca_file=" + filepath.Join(a.Dir, "other-ca.pem")}, "certificate signed by unknown authority"},
		{"unreachable", []string{fmt.Sprintf("ucollect.export.broker=mqtts://127.0.0.1:%d", closed)}, "connection refused"},
		{"refused password", nil, "username or password"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			a.UCI("set", "ucollect.export.broker="+b.URL())
			a.UCI("set", "ucollect.export.ca_file="+filepath.Join(a.Dir, "ca.pem"))
			os.WriteFile(filepath.Join(a.Dir, "mqtt.auth"), []byte("r0\nright\n"), 0o600)
			if c.name == "refused password" {
				os.WriteFile(filepath.Join(a.Dir, "mqtt.auth"), []byte("r0\nwrong\n"), 0o600)
			}
			for _, s := range c.set {
				a.UCI("set", s)
			}
			a.UCI("commit", "ucollect")
			x := startExporter(t, a.Dir)
			eventually(t, 15*time.Second, "the error in the status", func() (bool, string) {
				st, err := x.Status()
				return err == nil && strings.Contains(st.MQTT.LastError, c.want) && !st.MQTT.Connected && st.MQTT.Waiting > 0,
					fmt.Sprintf("%+v %v", st.MQTT, err)
			})
			if !strings.Contains(x.stderr.String(), c.want) {
				t.Errorf("the log does not say %q:\n%s", c.want, x.stderr.String())
			}
			// And the control API's /status says it, as both pages show it.
			var doc struct {
				Export struct {
					Enabled, Running bool
					MQTT             *export.SinkStatus `json:"mqtt"`
				} `json:"export"`
			}
			eventually(t, 10*time.Second, "the error in /status", func() (bool, string) {
				api.get(t, "/api/v1/status", &doc)
				m := doc.Export.MQTT
				return doc.Export.Enabled && doc.Export.Running && m != nil && !m.Connected && strings.Contains(m.LastError, c.want),
					fmt.Sprintf("%+v %+v", doc.Export, m)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if r, err := bot.Attempt(ctx, a.Addr("23tcp"), "root", "x"); err != nil || r.Outcome != bot.Rejected {
				t.Errorf("the fakes stopped serving: %+v %v", r, err)
			}
			x.Stop(syscall.SIGTERM)
		})
	}
	// And with everything right, the same exporter goes through.
	a.UCI("set", "ucollect.export.broker="+b.URL())
	a.UCI("set", "ucollect.export.ca_file="+filepath.Join(a.Dir, "ca.pem"))
	a.UCI("commit", "ucollect")
	os.WriteFile(filepath.Join(a.Dir, "mqtt.auth"), []byte("r0\nright\n"), 0o600)
	x := startExporter(t, a.Dir)
	eventually(t, 15*time.Second, "exported once the settings are right", func() (bool, string) {
		st, err := x.Status()
		return err == nil && st.MQTT.Connected && st.MQTT.Waiting == 0 && st.MQTT.Sent > 0, fmt.Sprintf("%+v %v", st.MQTT, err)
	})
}

// TestExportAuthFileReadableByOthersIsRefused: a password file others
// can read is not used.
func TestExportAuthFileReadableByOthersIsRefused(t *testing.T) {
	b := startBroker(t, map[string]string{"r0": "right"})
	a := exportAgent(t, b, "r0", "right", nil)
	os.Chmod(filepath.Join(a.Dir, "mqtt.auth"), 0o644)
	x := startExporter(t, a.Dir)
	eventually(t, 15*time.Second, "the refusal in the status", func() (bool, string) {
		st, err := x.Status()
		return err == nil && strings.Contains(st.MQTT.LastError, "readable by others"), fmt.Sprintf("%+v %v", st.MQTT, err)
	})
}

// webhookReceiver is an HTTP server on loopback that records the alert
// documents POSTed to it and fails the first few.
type webhookReceiver struct {
	mu    sync.Mutex
	docs  []export.AlertDoc
	raw   []string
	fails int
	url   string
}

func startWebhookReceiver(t *testing.T, fails int) *webhookReceiver {
	t.Helper()
	w := &webhookReceiver{fails: fails}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.mu.Lock()
		defer w.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(rw, "bad request", http.StatusBadRequest)
			return
		}
		if w.fails > 0 {
			w.fails--
			http.Error(rw, "not now", http.StatusServiceUnavailable)
			return
		}
		var d export.AlertDoc
		if err := json.Unmarshal(body, &d); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.docs = append(w.docs, d)
		w.raw = append(w.raw, string(body))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	w.url = "http://" + l.Addr().String() + "/hook"
	return w
}

// TestWebhookAlerts: new attacker addresses and logins reach the owner's
// webhook, retried after failures, without credentials when they are off;
// the broker export stays off.
func TestWebhookAlerts(t *testing.T) {
	for _, creds := range []bool{false, true} {
		t.Run(fmt.Sprintf("credentials=%v", creds), func(t *testing.T) {
			w := startWebhookReceiver(t, 2)
			on := map[bool]string{false: "0", true: "1"}[creds]
			a := startAgent(t, map[string]string{"export.webhook_url": w.url, "export.webhook_login": "1",
				"export.webhook_rate": "600", "export.credentials": on, "export.interval": "200ms", "export.batch_size": "50"})
			writeBacklog(t, a.DB, "hook", 120) // 120 logins from 120 addresses
			x := startExporter(t, a.Dir)
			eventually(t, 30*time.Second, "every alert delivered", func() (bool, string) {
				st, err := x.Status()
				return err == nil && st.Webhook.Waiting == 0 && st.Webhook.Cursor >= 120 && st.Webhook.LastError == "", fmt.Sprintf("%+v %v", st.Webhook, err)
			})
			if st, _ := x.Status(); strings.Contains(st.Webhook.Target, "/hook") || strings.Contains(x.stderr.String(), "/hook") {
				t.Errorf("the webhook's path (where services keep its secret) is shown: %q", st.Webhook.Target)
			}
			if !strings.Contains(x.stderr.String(), "503 Service Unavailable") {
				t.Errorf("the webhook's failures are not in the log:\n%s", x.stderr.String())
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			addrs, logins := map[string]int{}, map[int64]bool{}
			for _, d := range w.docs {
				for _, al := range d.Alerts {
					switch al.Kind {
					case "new_address":
						addrs[al.SrcIP]++
					case "login":
						logins[al.ID] = true
						if (al.Password != "") != creds {
							t.Errorf("credentials=%v but alert %+v", creds, al)
						}
					default:
						t.Errorf("unknown alert kind %q", al.Kind)
					}
				}
			}
			if len(addrs) != 120 || len(logins) != 120 {
				t.Errorf("%d new addresses and %d logins announced, want 120 each", len(addrs), len(logins))
			}
			for ip, n := range addrs {
				if n > 1 {
					t.Errorf("%s announced %d times", ip, n)
				}
			}
			if !creds && strings.Contains(strings.Join(w.raw, ""), "secret-hook") {
				t.Error("a password reached the webhook with credentials off")
			}
			st, _ := x.Status()
			if st.MQTT.Enabled || st.MQTT.Sent != 0 {
				t.Errorf("the broker export ran though it is off: %+v", st.MQTT)
			}
		})
	}
}

// TestExportCountsEventsLostToRetention: while the broker is unreachable,
// the store's row bound deletes events not yet exported; the exporter
// counts them (status and log) and exports what is left once the broker
// is back, named by the settings file changing under it.
func TestExportCountsEventsLostToRetention(t *testing.T) {
	b := startBroker(t, map[string]string{"r0": "p0", "collector": "c"})
	sub := startSubscriber(t, b, "collector", "c", "minipot/v1/+/events")
	a := exportAgent(t, b, "r0", "p0", map[string]string{"store.max_rows": "100", "export.sensor_id": "retention"})
	a.UCI("set", fmt.Sprintf("ucollect.export.broker=mqtts://127.0.0.1:%d", freePort(t)))
	a.UCI("commit", "ucollect")
	x := startExporter(t, a.Dir)
	writeBacklog(t, a.DB, "ret", 300)
	// The agent applies its row bound with its next batch.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := bot.Attempt(ctx, a.Addr("23tcp"), "root", "x"); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("bot: %+v %v", r, err)
	}
	eventually(t, 10*time.Second, "the row bound applied", func() (bool, string) {
		n := len(storedIDs(t, a.DB))
		return n <= 100, fmt.Sprintf("%d stored", n)
	})
	a.UCI("set", "ucollect.export.broker="+b.URL())
	a.UCI("commit", "ucollect")
	want := storedIDs(t, a.DB)
	eventually(t, 20*time.Second, "the rest exported, the deleted counted", func() (bool, string) {
		st, err := x.Status()
		return err == nil && st.MQTT.Waiting == 0 && st.MQTT.Lost > 0 && st.MQTT.Cursor >= want[len(want)-1],
			fmt.Sprintf("%+v %v", st.MQTT, err)
	})
	st, _ := x.Status()
	if st.MQTT.Lost != want[0]-1 {
		t.Errorf("lost %d, want %d (ids 1-%d were deleted unsent)", st.MQTT.Lost, want[0]-1, want[0]-1)
	}
	if !strings.Contains(x.stderr.String(), "deleted by retention or a purge before they were exported") {
		t.Errorf("the loss is not in the log:\n%s", x.stderr.String())
	}
	eventually(t, 10*time.Second, "the subscriber has what was stored", func() (bool, string) {
		got := map[int64]bool{}
		for _, r := range sub.Records(t) {
			got[r.ID] = true
		}
		for _, id := range want {
			if !got[id] {
				return false, fmt.Sprintf("id %d missing", id)
			}
		}
		return true, ""
	})
}

// TestWebhookSeenAcrossRestart: the addresses announced are kept beside
// the webhook's cursor, so a restarted exporter announces only the new
// ones: 120 addresses, a restart, then 150 (30 of them new).
func TestWebhookSeenAcrossRestart(t *testing.T) {
	w := startWebhookReceiver(t, 0)
	a := startAgent(t, map[string]string{"export.webhook_url": w.url, "export.webhook_rate": "600",
		"export.interval": "200ms", "export.batch_size": "50"})
	delivered := func(x *exporterProc, n int64) {
		eventually(t, 30*time.Second, "every alert delivered", func() (bool, string) {
			st, err := x.Status()
			return err == nil && st.Webhook.Waiting == 0 && st.Webhook.Cursor >= n && st.Webhook.LastError == "", fmt.Sprintf("%+v %v", st.Webhook, err)
		})
	}
	writeBacklog(t, a.DB, "first", 120) // 198.51.100.1-120
	x := startExporter(t, a.Dir)
	delivered(x, 120)
	x.Stop(syscall.SIGTERM)
	writeBacklog(t, a.DB, "again", 150) // 198.51.100.1-150
	x = startExporter(t, a.Dir)
	delivered(x, 270)

	w.mu.Lock()
	defer w.mu.Unlock()
	addrs := map[string]int{}
	for _, d := range w.docs {
		for _, al := range d.Alerts {
			if al.Kind == "new_address" {
				addrs[al.SrcIP]++
			}
		}
	}
	if len(addrs) != 150 {
		t.Errorf("%d addresses announced, want 150", len(addrs))
	}
	for ip, n := range addrs {
		if n > 1 {
			t.Errorf("%s announced %d times across the restart", ip, n)
		}
	}
	path := filepath.Join(a.Dir, export.SeenFile)
	data, err := os.ReadFile(path)
	st, _ := os.Stat(path)
	if err != nil || strings.Count(string(data), "\n") != 150 || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %d lines, mode %v", path, err, strings.Count(string(data), "\n"), st.Mode())
	}
}
