package rpcd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestListDeclaresTypes(t *testing.T) {
	data, err := json.Marshal(List())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// rpcd reads an argument's type from its example's JSON type: "" is a
	// string, 0 an int32, {} a table.
	want := map[string]map[string]string{
		"get_settings": {},
		"set_settings": {"settings": "object", "etag": "string"},
		"apply":        {},
		"status":       {},
		"events": {"service": "string", "src_ip": "string", "action": "string", "since": "string",
			"until": "string", "cursor": "string", "limit": "number"},
		"stats":   {"since": "string", "until": "string", "top": "number"},
		"purge":   {"scope": "string"},
		"version": {},
	}
	kind := func(v any) string {
		switch v := v.(type) {
		case string:
			return "string"
		case float64:
			if v != 0 {
				return "number with a width" // 8, 16, 64 select other int types
			}
			return "number"
		case map[string]any:
			return "object"
		}
		return "other"
	}
	gotKinds := map[string]map[string]string{}
	for m, sig := range got {
		gotKinds[m] = map[string]string{}
		for a, v := range sig {
			gotKinds[m][a] = kind(v)
		}
	}
	if !reflect.DeepEqual(gotKinds, want) {
		t.Errorf("list:\n got %v\nwant %v", gotKinds, want)
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		method, input string
		want          Request
		err           string // substring of the error; "" for none
	}{
		{"get_settings", ``, Request{Method: "GET", Path: "/settings", AddETag: true}, ""},
		{"get_settings", `{}`, Request{Method: "GET", Path: "/settings", AddETag: true}, ""},
		{"get_settings", `{"ubus_rpc_session":"0123"}`, Request{Method: "GET", Path: "/settings", AddETag: true}, ""},
		{"set_settings", `{"settings":{"enabled": false}}`,
			Request{Method: "PATCH", Path: "/settings", Body: []byte(`{"enabled":false}`)}, ""},
		{"set_settings", `{"settings":{"agent":{"hostname":"x"}},"etag":"\"abc\""}`,
			Request{Method: "PATCH", Path: "/settings", Body: []byte(`{"agent":{"hostname":"x"}}`), IfMatch: `"abc"`}, ""},
		{"set_settings", `{}`, Request{}, "settings: required"},
		{"set_settings", `{"settings":[1]}`, Request{}, "settings: must be an object"},
		{"set_settings", `{"settings":"enabled=0"}`, Request{}, "settings: must be an object"},
		{"set_settings", `{"settings":{},"etag":5}`, Request{}, "etag: must be a string"},
		{"apply", `{}`, Request{Method: "POST", Path: "/settings/apply", Body: []byte(`{}`)}, ""},
		{"status", `{}`, Request{Method: "GET", Path: "/status"}, ""},
		{"version", `{}`, Request{Method: "GET", Path: "/version"}, ""},
		{"events", `{"service":"23tcp","action":"login","since":"today","limit":20}`,
			Request{Method: "GET", Path: "/events", Query: q("service", "23tcp", "action", "login", "since", "today", "limit", "20")}, ""},
		// LuCI form values: numbers as strings, empty fields, nulls.
		{"events", `{"limit":"50","src_ip":"","cursor":null}`,
			Request{Method: "GET", Path: "/events", Query: q("limit", "50")}, ""},
		{"events", `{"limit":1.5}`, Request{}, "limit: must be a whole number"},
		{"events", `{"limit":"ten"}`, Request{}, "limit: must be a whole number"},
		{"events", `{"limit":true}`, Request{}, "limit: must be a whole number"},
		{"events", `{"service":23}`, Request{}, "service: must be a string"},
		{"events", `{"srcip":"1.2.3.4"}`, Request{}, "srcip: unknown argument"},
		{"stats", `{"since":"7d","top":5}`, Request{Method: "GET", Path: "/stats", Query: q("since", "7d", "top", "5")}, ""},
		{"stats", `{"limit":5}`, Request{}, "limit: unknown argument"},
		{"purge", `{"scope":"credentials"}`, Request{Method: "POST", Path: "/events/purge", Body: []byte(`{"scope":"credentials"}`)}, ""},
		{"purge", `{}`, Request{Method: "POST", Path: "/events/purge", Body: []byte(`{}`)}, ""}, // the API names what is missing
		{"purge", `{"scope":["all"]}`, Request{}, "scope: must be a string"},
		{"reboot", `{}`, Request{}, `no method "reboot"`},
		{"status", `[1]`, Request{}, "one JSON object"},
		{"status", `"x"`, Request{}, "one JSON object"},
		{"status", `null`, Request{}, "one JSON object"},
	} {
		got, err := Build(tc.method, []byte(tc.input))
		if tc.err != "" {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: error %v, want one with %q", tc.method, tc.input, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.method, tc.input, err)
			continue
		}
		if len(got.Query) == 0 {
			got.Query = nil // no filters: nil or empty alike
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s:\n got %+v\nwant %+v", tc.method, tc.input, got, tc.want)
		}
	}
}

func q(kv ...string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = []string{kv[i+1]}
	}
	return out
}

func TestURLEscapes(t *testing.T) {
	r, err := Build("events", []byte(`{"since":"2025-06-01T10:00:00+02:00","cursor":"a&b=c"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "http://localhost/api/v1/events?cursor=a%26b%3Dc&since=2025-06-01T10%3A00%3A00%2B02%3A00"
	if r.URL() != want {
		t.Errorf("URL %s, want %s", r.URL(), want)
	}
}

func TestReadInput(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"empty", "", "", ""},
		{"object", `{"a":1}`, `{"a":1}`, ""},
		{"trailing data ignored", "{\"a\":1}\n{\"b\":2}", `{"a":1}`, ""},
		{"malformed", `{"a":`, "", "one JSON object"},
		{"too big", `{"a":"` + strings.Repeat("x", MaxInput) + `"}`, "", "request too large"},
		// What rpcd passes of a larger argument: its first 65,536 bytes.
		{"cut by rpcd", (`{"a":"` + strings.Repeat("x", MaxInput))[:MaxInput], "", "request too large"},
		{"just fits", `{"a":"` + strings.Repeat("x", MaxInput-8) + `"}`, `{"a":"` + strings.Repeat("x", MaxInput-8) + `"}`, ""},
	} {
		got, err := readInput(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}

// openReader never ends, like a stdin nobody closes.
type openReader struct{ data io.Reader }

func (o openReader) Read(p []byte) (int, error) {
	n, err := o.data.Read(p)
	if err == io.EOF {
		select {} // block forever
	}
	return n, err
}

func TestReadInputDoesNotWaitForEOF(t *testing.T) {
	done := make(chan struct{})
	go func() {
		readInput(openReader{strings.NewReader(`{"a":1}`)})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("readInput waited for EOF after a complete object")
	}
}

// fakeAPI serves h on a unix socket and returns a client for it.
func fakeAPI(t *testing.T, h http.HandlerFunc) Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return Client{Socket: sock, Timeout: 2 * time.Second}
}

func TestCallMapsAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, method, input string
		status              int
		header, body        string
		ok                  bool
		want                map[string]any
	}{
		{"object passes through", "status", "", 200, "", `{"version":"1","agent":{"running":true}}`, true,
			map[string]any{"version": "1", "agent": map[string]any{"running": true}}},
		{"etag added", "get_settings", "", 200, `"abc"`, `{"enabled":true}`, true,
			map[string]any{"enabled": true, "etag": `"abc"`}},
		{"array wrapped", "status", "", 200, "", `[1,2]`, true, map[string]any{"result": []any{1.0, 2.0}}},
		{"API error with fields", "set_settings", `{"settings":{"redir_offset":-1}}`, 400, "",
			`{"error":"invalid settings","fields":[{"field":"fakes.redir_offset","message":"must be 1-64511"}]}`, false,
			map[string]any{"error": "invalid settings", "http_status": 400.0,
				"fields": []any{map[string]any{"field": "fakes.redir_offset", "message": "must be 1-64511"}}}},
		{"rolled back update keeps its members", "set_settings", `{"settings":{}}`, 500, "",
			`{"changed":false,"rolled_back":true,"error":"the agent cannot listen"}`, false,
			map[string]any{"changed": false, "rolled_back": true, "error": "the agent cannot listen", "http_status": 500.0}},
		{"not JSON", "status", "", 502, "", `Bad Gateway`, false,
			map[string]any{"error": "the API answered 502 Bad Gateway: Bad Gateway", "http_status": 502.0}},
		{"malformed success", "status", "", 200, "", `{"a":`, false, nil},
		{"bad arguments never reach the API", "events", `{"limit":"x"}`, 200, "", `{}`, false,
			map[string]any{"error": "invalid arguments of events",
				"fields": []any{map[string]any{"field": "limit", "message": "must be a whole number"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached := false
			c := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
				reached = true
				if r.Host != "localhost" {
					t.Errorf("Host %q", r.Host)
				}
				if r.Method != "GET" && r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s without a JSON content type", r.Method)
				}
				if tc.header != "" {
					w.Header().Set("ETag", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			got, ok := Call(context.Background(), c, tc.method, strings.NewReader(tc.input))
			if ok != tc.ok {
				t.Errorf("ok %v, want %v: %s", ok, tc.ok, got)
			}
			if strings.HasPrefix(tc.name, "bad arguments") && reached {
				t.Error("the API was asked")
			}
			data, _ := json.Marshal(got)
			var gotAny map[string]any
			json.Unmarshal(data, &gotAny)
			if tc.want == nil {
				if _, has := gotAny["error"]; !has {
					t.Errorf("no error in %s", data)
				}
				return
			}
			if !reflect.DeepEqual(gotAny, tc.want) {
				t.Errorf("reply %s, want %v", data, tc.want)
			}
		})
	}
}

func TestCallWithoutAPI(t *testing.T) {
	c := Client{Socket: filepath.Join(t.TempDir(), "none.sock"), Timeout: time.Second}
	got, ok := Call(context.Background(), c, "status", strings.NewReader("{}"))
	var msg string
	json.Unmarshal(got["error"], &msg)
	if ok || !strings.Contains(msg, "cannot reach the API") || strings.Contains(msg, "http://") {
		t.Errorf("%v %q", ok, msg)
	}
}

func TestCallTimesOut(t *testing.T) {
	c := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	got, ok := Call(context.Background(), c, "status", strings.NewReader("{}"))
	var msg string
	json.Unmarshal(got["error"], &msg)
	if ok || !strings.Contains(msg, "did not answer within 200ms") || time.Since(start) > 2*time.Second {
		t.Errorf("%v %q after %s", ok, msg, time.Since(start))
	}
}

func TestCallBoundsTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		ok     bool
	}{
		{"over MaxAnswer", `{"a":"` + strings.Repeat("x", MaxAnswer) + `"}`, false},
		// 1000 KiB as blobmsg from 6.1 MB of the API's JSON, where
		// each < is \u003c. It fits in a ubus message.
		{"markup fits", `{"a":"` + strings.Repeat(`\u003c`, 1000<<10) + `"}`, true},
		{"over a ubus message", `{"a":"` + strings.Repeat("x", MaxBlob) + `"}`, false},
		{"many small members", `{"a":[` + strings.Repeat(`1,`, MaxBlob/8) + `1]}`, false},
	} {
		c := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.answer) })
		got, ok := Call(context.Background(), c, "status", strings.NewReader("{}"))
		if ok != tc.ok {
			t.Errorf("%s: ok %v: %.200s", tc.name, ok, got["error"])
			continue
		}
		if !ok && (!strings.Contains(string(got["error"]), "too large") || got["http_status"] != nil) {
			t.Errorf("%s: %.200s, http_status %s", tc.name, got["error"], got["http_status"])
		}
		if ok {
			var a string
			if json.Unmarshal(got["a"], &a) != nil || len(a) != 1000<<10 || strings.Contains(string(got["a"]), `\u003c`) {
				t.Errorf("%s: %.100s", tc.name, got["a"])
			}
		}
	}
}
