package webapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUIServed checks the page's files: served without the token (they
// hold no data) but behind the Host check, with a strict CSP, revalidated
// by ETag; and that the API itself still needs the token.
func TestUIServed(t *testing.T) {
	e := newEnv(t)
	e.serve(Access{Token: "s3cret-token-0123456789"})
	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://localhost"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for path, ct := range map[string]string{"/": "text/html", "/ui/index.html": "text/html", "/ui/app.js": "javascript", "/ui/style.css": "text/css"} {
		resp, body := get(path, "Host", "127.0.0.1:8377")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ct) || body == "" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-cache" || h.Get("ETag") == "" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		if r, _ := get(path, "If-None-Match", h.Get("ETag")); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, r.StatusCode)
		}
	}
	// Nothing loads from elsewhere, and no inline script or style.
	_, html := get("/")
	for _, bad := range []string{"http://", "https://", "<style", "style=", "<script>", "onclick", "onload"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	_, js := get("/ui/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	for _, tc := range []struct {
		path   string
		header []string
		status int
	}{
		{"/", []string{"Host", "attacker.example:8377"}, 403}, // DNS rebinding
		{"/", []string{"Origin", "http://attacker.example"}, 403},
		{"/ui/missing.js", nil, 404},
		{"/ui/../api/v1/settings", nil, 404},
		{"/api/v1/settings", nil, 401},
		{"/api/v1/settings", []string{"Origin", "http://127.0.0.1:8377", "Sec-Fetch-Site", "same-origin", "Authorization", "Bearer s3cret-token-0123456789"}, 200},
	} {
		if resp, body := get(tc.path, tc.header...); resp.StatusCode != tc.status {
			t.Errorf("GET %s %v: %d, want %d: %s", tc.path, tc.header, resp.StatusCode, tc.status, body)
		}
	}
}

// TestUIFilesSmall keeps the page within its share of the router binary:
// every file of it is embedded, uncompressed.
func TestUIFilesSmall(t *testing.T) {
	const budget = 64 << 10
	total := 0
	for p, f := range uiFiles {
		if p != "/" {
			total += len(f.body)
		}
	}
	if total == 0 || total > budget {
		t.Errorf("the page's files take %d bytes, budget %d", total, budget)
	}
}
