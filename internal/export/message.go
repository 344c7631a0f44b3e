package export

import (
	"encoding/json"
	"strconv"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/redact"
)

// FormatVersion is the message format's version; it is also the topic
// level after the prefix (<prefix>/v1/<sensor>/events). A change that a
// consumer could misread gets a new version and a new topic.
const FormatVersion = 1

// Record is one event as published: docs/export.schema.json describes it.
// (Sensor, ID) is its identity: a consumer drops a record it has seen.
// Empty text fields are left out. Attacker text that is not valid UTF-8
// has its invalid bytes replaced by U+FFFD, as JSON requires.
type Record struct {
	V      int    `json:"v"`
	Sensor string `json:"sensor"`
	ID     int64  `json:"id"`
	TS     string `json:"ts"` // RFC 3339, UTC, milliseconds
	Fields
	Count int64 `json:"count,omitempty"`
}

// Fields are what an event tells, under the names every reader outside
// the router gets them by: the exporter's records and the control API's
// events (webapi.EventDoc) both carry them, each with its own identity,
// time and count around them.
type Fields struct {
	Service    string `json:"service"`
	Port       int    `json:"port"`
	SrcIP      string `json:"src_ip"`
	SrcPort    int    `json:"src_port"`
	ConnID     int64  `json:"conn_id"`
	Action     string `json:"action"`
	Method     string `json:"method,omitempty"`
	URL        string `json:"url,omitempty"`
	Host       string `json:"host,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	Username   string `json:"username,omitempty"`
	Password   string `json:"password,omitempty"`
	Body       string `json:"body,omitempty"`
	Detail     string `json:"detail,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	BytesIn    int64  `json:"bytes_in,omitempty"`
	BytesOut   int64  `json:"bytes_out,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// FieldsOf copies e's fields as stored: the store holds credentials only
// when they were collected (fakes.log_credentials).
func FieldsOf(e *event.Event) Fields {
	return Fields{
		Service: e.Service, Port: e.Port, SrcIP: e.SrcIP, SrcPort: e.SrcPort,
		ConnID: e.ConnID, Action: string(e.Action),
		Method: e.Method, URL: e.URL, Host: e.Host, UserAgent: e.UserAgent,
		Username: e.Username, Password: e.Password, Body: e.Body, Detail: e.Detail,
		DurationMS: e.Duration.Milliseconds(), BytesIn: e.BytesIn, BytesOut: e.BytesOut, Reason: e.Reason,
	}
}

// NewRecord renders e for sensor; credentials are copied only when
// withCredentials is true (fakes.log_credentials and export.credentials):
// else e's texts go through the credential rule, as the agent records them
// with credentials off (an event stored while they were collected keeps
// them in the store, not on the wire).
func NewRecord(sensor string, e *event.Event, withCredentials bool) Record {
	if !withCredentials {
		c := *e
		redact.Event(&c)
		e = &c
	}
	r := Record{
		V: FormatVersion, Sensor: sensor, ID: e.ID,
		TS:     e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Fields: FieldsOf(e), Count: e.Count,
	}
	return r
}

// Topic is where a sensor's events are published.
func Topic(prefix, sensor string) string {
	return prefix + "/v" + strconv.Itoa(FormatVersion) + "/" + sensor + "/events"
}

// encode renders a batch as MQTT messages, one event each: a consumer
// needs no framing, and a broker's per-message limits stay far away.
func encode(topic, sensor string, evs []event.Event, withCredentials bool) ([]Message, error) {
	msgs := make([]Message, len(evs))
	for i := range evs {
		b, err := json.Marshal(NewRecord(sensor, &evs[i], withCredentials))
		if err != nil {
			return nil, err
		}
		msgs[i] = Message{Topic: topic, Payload: b}
	}
	return msgs, nil
}
