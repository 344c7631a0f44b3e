// Package export is the fleet exporter (`minipot export`): it publishes
// the events of the store to a central MQTT broker with QoS 1 over TLS,
// and POSTs alerts to the owner's webhook. The store is the outbox: each
// destination keeps a cursor in a file beside it that moves only when the
// destination acknowledged a batch, so nothing is lost while the router is
// offline, and at most one batch is sent twice.
package export

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/settings"
)

// State files beside the store (the store's folder belongs to the
// unprivileged user both the agent and the exporter run as).
const (
	MQTTCursorFile    = "export-mqtt.cursor"
	WebhookCursorFile = "export-webhook.cursor" // SeenFile beside it
	SensorIDFile      = "export-sensor-id"
)

// Exporter runs the pumps that the settings switch on.
type Exporter struct {
	Settings settings.Settings
	Source   Source
	Log      zerolog.Logger

	mqtt, webhook *Pump
	sensor, topic string
	err           string
	mu            sync.Mutex
}

// Run exports until ctx ends.
func (x *Exporter) Run(ctx context.Context) error {
	s := x.Settings
	dir := filepath.Dir(s.Store.Path)
	if !s.Export.Enabled && s.Export.WebhookURL == "" {
		<-ctx.Done()
		return nil
	}
	sensor, err := SensorID(s.Export.SensorID, filepath.Join(dir, SensorIDFile))
	if err != nil {
		x.setErr(err)
		return err
	}
	x.mu.Lock()
	x.sensor = sensor
	x.mu.Unlock()
	withCreds := s.LogCredentials && s.Export.Credentials
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	start := func(p *Pump) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil {
				errc <- err
			}
		}()
	}
	if s.Export.Enabled {
		topic := Topic(s.Export.TopicPrefix, sensor)
		x.mu.Lock()
		x.topic = topic
		x.mqtt = &Pump{Name: "mqtt", Source: x.Source, CursorPath: filepath.Join(dir, MQTTCursorFile),
			Batch: s.Export.BatchSize, Interval: s.Export.Interval, Log: x.Log,
			Connect: func(ctx context.Context) (Sink, error) {
				cfg, err := MQTTConfigOf(s.Export, sensor)
				if err != nil {
					return nil, err
				}
				c, err := dialMQTT(ctx, cfg)
				if err != nil {
					return nil, err
				}
				return &mqttSink{c: c, topic: topic, sensor: sensor, withCredentials: withCreds, rate: s.Export.Rate}, nil
			}}
		x.mqtt.st.Target = s.Export.Broker
		x.mu.Unlock()
		start(x.mqtt)
	}
	if s.Export.WebhookURL != "" {
		// Kept across reconnections and, in SeenFile, across restarts,
		// so an address is announced once.
		seen, err := loadSeen(filepath.Join(dir, SeenFile), maxSeen)
		if err != nil {
			// Alerts matter more than their repeats: start with none
			// remembered (the file is replaced at the first POST).
			x.Log.Warn().Err(err).Msg("webhook: known addresses may be announced again")
			seen = &seenSet{path: filepath.Join(dir, SeenFile), max: maxSeen, set: map[string]struct{}{}}
		}
		x.mu.Lock()
		x.webhook = &Pump{Name: "webhook", Source: x.Source, CursorPath: filepath.Join(dir, WebhookCursorFile),
			Batch: s.Export.BatchSize, Interval: s.Export.Interval, Log: x.Log,
			Connect: func(context.Context) (Sink, error) {
				return newWebhookSink(s.Export.WebhookURL, sensor, s.Export.WebhookRate, s.Export.WebhookLogin, withCreds, seen, x.Log), nil
			}}
		x.webhook.st.Target = redactURL(s.Export.WebhookURL)
		x.mu.Unlock()
		start(x.webhook)
	}
	wg.Wait()
	close(errc)
	return errors.Join(<-errc, <-errc)
}

func (x *Exporter) setErr(err error) {
	x.mu.Lock()
	x.err = err.Error()
	x.mu.Unlock()
}

// Status is the report for the status file.
func (x *Exporter) Status() Status {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := Status{Sensor: x.sensor, Topic: x.topic, Error: x.err}
	if x.mqtt != nil {
		st.MQTT = x.mqtt.Status()
	}
	if x.webhook != nil {
		st.Webhook = x.webhook.Status()
	}
	return st
}

// MQTTConfigOf reads the TLS files and the password file that section
// export names. It is called at each connection, so a renewed certificate
// is picked up without a restart.
func MQTTConfigOf(e settings.Export, sensor string) (MQTTConfig, error) {
	cfg := MQTTConfig{Broker: e.Broker, ClientID: "minipot-" + sensor}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return cfg, fmt.Errorf("export.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("export.ca_file %s holds no PEM certificate", e.CAFile)
		}
		tc.RootCAs = pool
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return cfg, fmt.Errorf("export.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	cfg.TLS = tc
	if e.AuthFile != "" {
		user, pass, err := readAuthFile(e.AuthFile)
		if err != nil {
			return cfg, err
		}
		cfg.Username, cfg.Password = user, pass
	}
	return cfg, nil
}

// readAuthFile reads "username\npassword" from a file that only its
// owner may read: a password readable by others is refused, not used.
func readAuthFile(path string) (string, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("export.auth_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("export.auth_file %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := readSmall(path)
	if err != nil {
		return "", "", fmt.Errorf("export.auth_file: %w", err)
	}
	user, pass, _ := strings.Cut(strings.TrimRight(string(data), "\n"), "\n")
	user, pass = strings.TrimSuffix(user, "\r"), strings.TrimSuffix(pass, "\r")
	if user == "" {
		return "", "", fmt.Errorf("export.auth_file %s: the first line must be the username", path)
	}
	return user, pass, nil
}
