package settings

import (
	"strings"
	"testing"
)

func TestExportValidation(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Export)
		bad  string // field named in the error; "" : valid
	}{
		{"defaults", func(*Export) {}, ""},
		{"enabled without broker", func(e *Export) { e.Enabled = true }, "export.broker"},
		{"tls broker", func(e *Export) { e.Enabled, e.Broker = true, "mqtts://collector.example.net:8883" }, ""},
		{"plain to loopback", func(e *Export) { e.Broker = "mqtt://127.0.0.1:1883" }, ""},
		{"plain to the internet", func(e *Export) { e.Broker = "mqtt://collector.example.net" }, "export.broker"},
		{"credentials in URL", func(e *Export) { e.Broker = "mqtts://u:p@collector.example.net" }, "export.broker"},
		{"http scheme", func(e *Export) { e.Broker = "https://collector.example.net" }, "export.broker"},
		{"bad port", func(e *Export) { e.Broker = "mqtts://collector.example.net:x" }, "export.broker"},
		{"wildcard in sensor", func(e *Export) { e.SensorID = "a/#" }, "export.sensor_id"},
		{"prefix levels", func(e *Export) { e.TopicPrefix = "isp/minipot" }, ""},
		{"empty prefix level", func(e *Export) { e.TopicPrefix = "isp//x" }, "export.topic_prefix"},
		{"cert without key", func(e *Export) { e.CertFile = "/etc/c.pem" }, "export.key_file"},
		{"batch too large", func(e *Export) { e.BatchSize = 5000 }, "export.batch_size"},
		{"rate zero", func(e *Export) { e.Rate = 0 }, "export.rate"},
		{"webhook https", func(e *Export) { e.WebhookURL = "https://hooks.example.net/x" }, ""},
		{"webhook http remote", func(e *Export) { e.WebhookURL = "http://hooks.example.net/x" }, "export.webhook_url"},
		{"webhook ftp", func(e *Export) { e.WebhookURL = "ftp://x/" }, "export.webhook_url"},
	}
	for _, c := range cases {
		s := Defaults()
		c.set(&s.Export)
		err := s.Validate()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad+":")):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.bad)
		}
	}
}
