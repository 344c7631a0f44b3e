package webapi

import (
	"errors"
	"io/fs"
	"time"

	"github.com/minipot/minipot/internal/export"
	"github.com/minipot/minipot/internal/settings"
)

// ExportState is the exporter's part of the status: what the settings ask
// for, and what the running `minipot export` reports.
type ExportState struct {
	Enabled bool               `json:"enabled"` // export.enabled
	Webhook bool               `json:"webhook"` // export.webhook_url is set
	Running bool               `json:"running"`
	Sensor  string             `json:"sensor,omitempty"`
	Topic   string             `json:"topic,omitempty"`
	MQTT    *export.SinkStatus `json:"mqtt,omitempty"`
	Alerts  *export.SinkStatus `json:"alerts,omitempty"`
	Updated *time.Time         `json:"updated,omitempty"`
	Error   string             `json:"error,omitempty"`
	Note    string             `json:"note,omitempty"`
}

// exportStaleAfter is when a status file that has not been rewritten is
// taken for that of a dead exporter (it rewrites it every 2 seconds).
const exportStaleAfter = 30 * time.Second

func (a *API) exportState(s settings.Settings) ExportState {
	st := ExportState{Enabled: s.Export.Enabled, Webhook: s.Export.WebhookURL != ""}
	if a.cfg.ExportDir == "" {
		return st
	}
	rep, err := export.ReadStatus(a.cfg.ExportDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if st.Enabled || st.Webhook {
			st.Note = "the exporter is not running (`minipot export`; on OpenWrt procd starts it)"
		}
		return st
	case err != nil:
		st.Error = err.Error()
		return st
	}
	if time.Since(rep.Updated) > exportStaleAfter {
		st.Note = "the exporter's report is stale: it is not running"
		return st
	}
	st.Running, st.Sensor, st.Topic, st.Error, st.Updated = true, rep.Sensor, rep.Topic, rep.Error, &rep.Updated
	if rep.MQTT.Enabled {
		st.MQTT = &rep.MQTT
	}
	if rep.Webhook.Enabled {
		st.Alerts = &rep.Webhook
	}
	if st.Enabled != rep.MQTT.Enabled || st.Webhook != rep.Webhook.Enabled {
		st.Note = "the exporter has not picked up the settings yet (it does within seconds)"
	}
	return st
}
