package webapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

const defaultMaxBody = 64 << 10

// guard wraps h with the checks every request passes, in order: no panic
// escapes; the Host (and Origin) must be local, which defeats DNS
// rebinding; the token, for TCP; a state-changing request must declare a
// JSON body, which a web page cannot send to another origin without a
// CORS preflight that this API never grants (CSRF); bodies are bounded.
func (a *API) guard(acc Access, h http.Handler) http.Handler {
	maxBody := acc.MaxBody
	if maxBody <= 0 {
		maxBody = defaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.cfg.Log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("request handler failed")
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !localHost(r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("Host %q is not local: use localhost or a loopback address", r.Host))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !localOrigin(o) {
			writeError(w, http.StatusForbidden, "cross-origin requests are not allowed")
			return
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeError(w, http.StatusForbidden, "cross-site requests are not allowed")
			return
		}
		if acc.Token != "" && !validToken(r.Header.Get("Authorization"), acc.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="minipot"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, "a "+r.Method+" request must have Content-Type: application/json")
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h.ServeHTTP(w, r)
	})
}

// localHost accepts localhost and loopback addresses, with any port.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func localOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && localHost(u.Host)
}

func validToken(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// peerKey carries who is on the other end of a connection, for the log.
type peerKey struct{}

// ConnContext records the peer of a connection for the change log: the
// uid and pid of a unix socket peer (SO_PEERCRED), the address of a TCP
// one. Set it as the http.Server's ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	peer := c.RemoteAddr().String()
	if uc, ok := c.(*net.UnixConn); ok {
		peer = "unix"
		if raw, err := uc.SyscallConn(); err == nil {
			var cred *syscall.Ucred
			var cerr error
			err = raw.Control(func(fd uintptr) {
				cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
			})
			if err = errors.Join(err, cerr); err == nil && cred != nil {
				peer = fmt.Sprintf("unix uid=%d pid=%d", cred.Uid, cred.Pid)
			}
		}
	}
	return context.WithValue(ctx, peerKey{}, peer)
}

func peerOf(r *http.Request) string {
	if p, ok := r.Context().Value(peerKey{}).(string); ok {
		return p
	}
	return r.RemoteAddr
}
