package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
)

// The pages must show what /status says, not what they derive, and list
// the services /status lists. A real router gives neither a new service
// nor a real service on demand, so these tests put a proxy in front of the
// real API (beside the tests of the same pages against the API as it is)
// that edits the answers: it adds a service the page has never heard of,
// and says that a real service owns port 80.
const (
	addedKey   = "2121tcp"
	addedLabel = "FTP 2121 (test)"
	addedText  = "Reachable from the internet: the test says so."
	realText   = "A real service owns port 80: the test proxy says so."
)

// editStatus changes a /status document as described above: the added
// service goes second, so that the page's order must be the API's.
func editStatus(doc map[string]any) {
	svcs, _ := doc["services"].([]any)
	for _, s := range svcs {
		m, _ := s.(map[string]any)
		if m["key"] == "80tcp" {
			m["state"] = map[string]any{"code": "real_service", "reason": "real_service_accepted", "text": realText,
				"families": []any{
					map[string]any{"family": "ipv4", "code": "real_service", "reason": "real_service_accepted", "text": realText, "detail": "Allow-HTTP accepts it"},
					map[string]any{"family": "ipv6", "code": "real_service", "reason": "real_service_accepted", "text": realText},
				}}
		}
	}
	added := map[string]any{"key": addedKey, "label": addedLabel, "port": 2121, "fake_port": 3490, "enabled": true,
		"listening": true, "state": map[string]any{"code": "reachable", "reason": "redirected", "text": addedText, "families": []any{}}}
	if len(svcs) > 0 {
		svcs = append(svcs[:1], append([]any{added}, svcs[1:]...)...)
	}
	doc["services"] = svcs
}

// editSettings adds the same service to GET /settings.
func editSettings(doc map[string]any) {
	if svcs, ok := doc["services"].(map[string]any); ok {
		svcs[addedKey] = map[string]any{"label": addedLabel, "port": 2121, "fake_port": 3490, "enabled": true}
	}
}

// editingProxy forwards every request to the API reached through dial and
// edits the answers of GET /api/v1/status and /api/v1/settings.
func editingProxy(t *testing.T, dial func(ctx context.Context) (net.Conn, error), host string) http.Handler {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: host}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		}},
		ModifyResponse: func(resp *http.Response) error {
			var edit func(map[string]any)
			switch resp.Request.URL.Path {
			case "/api/v1/status":
				edit = editStatus
			case "/api/v1/settings":
				edit = editSettings
			}
			if edit == nil || resp.StatusCode != 200 || resp.Request.Method != http.MethodGet {
				return nil
			}
			data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			if err != nil {
				return err
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				return err
			}
			edit(doc)
			if data, err = json.Marshal(doc); err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(data))
			resp.ContentLength = int64(len(data))
			resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
			return nil
		},
	}
}

// editingSocket serves editingProxy of the API's unix socket on a new unix
// socket, for the rpcd plugin, and returns its path.
func editingSocket(t *testing.T, p *apiProc) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edited.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: editingProxy(t, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", p.Socket)
	}, "localhost")}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}
