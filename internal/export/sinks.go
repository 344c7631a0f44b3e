package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
)

// mqttSink publishes each event as one QoS 1 message.
type mqttSink struct {
	c               *mqttConn
	topic, sensor   string
	withCredentials bool
	rate            int // events per second at most
}

// Pause spaces batches so that at most rate events are published a second.
func (s *mqttSink) Pause(n int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(max(s.rate, 1))
}

func (s *mqttSink) Send(ctx context.Context, evs []event.Event) error {
	msgs, err := encode(s.topic, s.sensor, evs, s.withCredentials)
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	return s.c.publish(ctx, msgs)
}

func (s *mqttSink) Idle(ctx context.Context) error { return s.c.ping(ctx) }
func (s *mqttSink) Close() error                   { return s.c.close() }

// Alert is one line of a webhook POST.
type Alert struct {
	Kind     string `json:"kind"` // "new_address" or "login"
	ID       int64  `json:"id"`
	TS       string `json:"ts"`
	Service  string `json:"service"`
	SrcIP    string `json:"src_ip"`
	Username string `json:"username,omitempty"` // with credentials exported only
	Password string `json:"password,omitempty"`
}

// AlertDoc is the body of a webhook POST.
type AlertDoc struct {
	V      int     `json:"v"`
	Sensor string  `json:"sensor"`
	Alerts []Alert `json:"alerts"`
}

// webhookSink POSTs the alerts found in a batch. It needs no connection:
// "connected" means the last POST was answered 2xx.
type webhookSink struct {
	url             string
	sensor          string
	client          *http.Client
	logins          bool
	withCredentials bool
	seen            *seenSet // addresses already announced
	rate            int      // POSTs per minute at most
	posted          bool     // the last Send made a POST
	log             zerolog.Logger
}

// Pause spaces POSTs so that at most rate are made a minute; a batch with
// nothing to announce costs nothing.
func (s *webhookSink) Pause(int) time.Duration {
	if !s.posted {
		return 0
	}
	return time.Minute / time.Duration(max(s.rate, 1))
}

func newWebhookSink(url, sensor string, rate int, logins, withCredentials bool, seen *seenSet, log zerolog.Logger) *webhookSink {
	return &webhookSink{url: url, sensor: sensor, rate: rate, logins: logins, withCredentials: withCredentials, seen: seen, log: log,
		client: &http.Client{Timeout: 15 * time.Second,
			// An alert goes to the URL configured, nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *webhookSink) alerts(evs []event.Event) ([]Alert, []string) {
	var out []Alert
	var fresh []string
	batchSeen := map[string]bool{}
	for i := range evs {
		e := &evs[i]
		a := Alert{ID: e.ID, TS: e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Service: e.Service, SrcIP: e.SrcIP}
		if !s.seen.has(e.SrcIP) && !batchSeen[e.SrcIP] {
			batchSeen[e.SrcIP] = true
			fresh = append(fresh, e.SrcIP)
			a.Kind = "new_address"
			out = append(out, a)
		}
		if s.logins && e.Action == event.Login {
			a.Kind = "login"
			if s.withCredentials {
				a.Username, a.Password = e.Username, e.Password
			}
			out = append(out, a)
		}
	}
	return out, fresh
}

func (s *webhookSink) Send(ctx context.Context, evs []event.Event) error {
	s.posted = false
	alerts, fresh := s.alerts(evs)
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(AlertDoc{V: FormatVersion, Sensor: s.sensor, Alerts: alerts})
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "minipot-export")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(s.url)
		}
		return fmt.Errorf("webhook: %w", err)
	}
	// Drain a bounded amount so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", redactURL(s.url), resp.Status)
	}
	s.posted = true
	if err := s.seen.addAll(fresh); err != nil {
		// The alerts went: failing the batch would POST them again. The
		// addresses stay remembered until the exporter stops.
		s.log.Warn().Err(err).Msg("webhook: the addresses announced are not kept across a restart")
	}
	return nil
}

// redactURL keeps a URL's scheme and host: webhook services (Slack,
// Discord, ntfy) put the secret in the path or the query, and errors and
// the status file are read by others than the owner.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(webhook URL)"
	}
	if u.Path == "" && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/…"
}

func (s *webhookSink) Idle(context.Context) error { return nil }
func (s *webhookSink) Close() error               { s.client.CloseIdleConnections(); return nil }
