package webapi

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/export"
)

// TestExportSwitchAndStatus: the export section is switched through the
// API, a bad broker URL is refused naming the option, and /status shows
// what the exporter's status file reports.
func TestExportSwitchAndStatus(t *testing.T) {
	e := newEnv(t)
	r := e.do("PATCH", "/api/v1/settings", `{"export": {"enabled": true}}`)
	if r.status/100 != 4 || !strings.Contains(string(r.body), "export.broker") {
		t.Fatalf("enabling without a broker: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/api/v1/settings", `{"export": {"enabled": true, "broker": "mqtt://collector.example.net"}}`)
	if !strings.Contains(string(r.body), "unencrypted") {
		t.Fatalf("a plain remote broker: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/api/v1/settings", `{"export": {"enabled": true, "broker": "mqtts://collector.example.net:8883", "interval": "10s"}}`)
	if r.status != 200 {
		t.Fatalf("PATCH export: %d %s", r.status, r.body)
	}
	file := string(e.fileBytes())
	for _, want := range []string{"config export 'export'", "option enabled '1'", "option broker 'mqtts://collector.example.net:8883'", "option interval '10s'"} {
		if !strings.Contains(file, want) {
			t.Errorf("the file lacks %q:\n%s", want, file)
		}
	}

	var st StatusDoc
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if !st.Export.Enabled || st.Export.Running {
		t.Errorf("without an exporter: %+v", st.Export)
	}
	dir := t.TempDir()
	e.api.cfg.ExportDir = dir
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if !strings.Contains(st.Export.Note, "not running") {
		t.Errorf("no status file: %+v", st.Export)
	}
	last := time.Now().UTC().Add(-time.Minute)
	err := export.WriteStatus(dir, export.Status{PID: os.Getpid(), Updated: time.Now().UTC(), Sensor: "s1", Topic: "minipot/v1/s1/events",
		MQTT: export.SinkStatus{Enabled: true, Target: "mqtts://collector.example.net:8883", LastExport: &last, Waiting: 12, Lost: 3,
			LastError: "connect to broker collector.example.net:8883: connection refused"}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/api/v1/status", "")
	r.decode(t, &st)
	m := st.Export.MQTT
	if !st.Export.Running || m == nil || m.Connected || m.Waiting != 12 || m.Lost != 3 || !strings.Contains(m.LastError, "refused") || m.LastExport == nil {
		t.Errorf("status: %s", r.body)
	}
}
