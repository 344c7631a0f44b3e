package webapi

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The Data collection page: static files that hold no data (everything
// comes from /api/v1 once the page runs), so they are served without the
// token; the page takes the token from its URL fragment. Everything it
// loads is embedded here: no CDN, no build step.
//
//go:embed ui
var uiFS embed.FS

// uiCSP allows the page's own files and same-origin fetches only: no
// inline script or style, no framing, and with Trusted Types no string
// can become HTML (attacker text stays text even if a bug tried).
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

type uiFile struct {
	body        []byte
	etag        string
	contentType string
}

// uiFiles maps the URL paths of the page to its files, read once.
var uiFiles = func() map[string]uiFile {
	files := map[string]uiFile{}
	fs.WalkDir(uiFS, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files["/"+p] = uiFile{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, contentType: ct}
		return nil
	})
	files["/"] = files["/ui/index.html"]
	return files
}()

// isUIPath says which requests the page's handler gets.
func isUIPath(p string) bool { return p == "/" || strings.HasPrefix(p, "/ui/") }

// serveUI serves one embedded file, revalidated by its ETag on every use
// so that a new binary's page is never mixed with an old cached script.
func serveUI(w http.ResponseWriter, r *http.Request) {
	f, ok := uiFiles[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file: "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.contentType)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(f.body)
}
