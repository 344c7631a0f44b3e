package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
	"github.com/minipot/minipot/webapi"
)

// Development defaults of `minipot api --dev` (make run).
const (
	devSocket    = "var/run/api.sock"
	devListen    = "127.0.0.1:8377"
	devTokenFile = "var/api.token"
)

type apiOptions struct {
	confDir, runDir     string
	socket, socketGroup string
	listen, tokenFile   string
	manageFirewall      bool
	backend             string
	convergeEvery       time.Duration
	logLevel            string
	printTry            bool
	createMissingToken  bool
}

// runAPI is `minipot api`: the control API on a unix socket and, with
// --listen, on loopback TCP with a bearer token.
func runAPI(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	var o apiOptions
	fs.StringVar(&o.confDir, "c", "/etc/config", "UCI config `dir`ectory holding package ucollect")
	fs.StringVar(&o.runDir, "run-dir", "/var/run/minipot", "the agent's run `dir`ectory (its agent.json report)")
	fs.StringVar(&o.socket, "socket", "/var/run/minipot-api.sock", "unix socket `path` (mode 0660)")
	fs.StringVar(&o.socketGroup, "socket-group", "", "`group` (name or id) that may use the socket besides its owner")
	fs.StringVar(&o.listen, "listen", "", "also listen on TCP `addr`ess, loopback only (127.0.0.1:8377); needs --token-file")
	fs.StringVar(&o.tokenFile, "token-file", "", "`file` holding the bearer token for TCP; readable by its owner only")
	fs.BoolVar(&o.manageFirewall, "firewall", false, "converge the redirect rules on every change and every --converge-every (needs root)")
	fs.StringVar(&o.backend, "backend", "", "firewall backend for --firewall: auto, nftables, iptables-nft or iptables-legacy (default: ucollect.firewall.backend)")
	fs.DurationVar(&o.convergeEvery, "converge-every", time.Minute, "how often to re-apply the rules and recount the statistics")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	dev := fs.Bool("dev", false, "development mode: config in ./"+devConfigDir+", socket ./"+devSocket+", TCP "+devListen+" with the token in ./"+devTokenFile+" (created if missing)")
	u := usage{"api [-c DIR] [--run-dir DIR] [--socket PATH] [--socket-group G] [--listen 127.0.0.1:PORT --token-file F] [--firewall] [--dev]",
		[]string{"Serves the control API (docs/api.md) until SIGINT or SIGTERM."}}
	words, code, ok := parseFlags(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := noArgs(fs, words, stderr); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *dev {
		o.confDir, o.runDir = devConfigDir, devRunDir
		if !set["socket"] {
			o.socket = devSocket
		}
		if !set["listen"] {
			o.listen = devListen
		}
		if !set["token-file"] {
			o.tokenFile = devTokenFile
		}
		o.printTry, o.createMissingToken = true, true
		if err := seedDevConfig(o.confDir); err != nil {
			fmt.Fprintln(stderr, "minipot api:", err)
			return 1
		}
	}
	if !*dev {
		fromSettings(&o, uci.Dir{Path: o.confDir}, set)
	}
	if o.manageFirewall && os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "minipot api: --firewall needs root: it changes the router's iptables rules")
		return 1
	}
	if err := serveAPI(o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "minipot api:", err)
		return 1
	}
	return 0
}

// fromSettings takes the TCP address and the token file from section api
// of the settings file, where the flags (set) did not name them: a router
// owner sets them with uci rather than in the init script. A token file
// named there is created if missing, as the owner cannot be asked to make
// one first. A file that does not load, or an invalid api option, leaves
// o as the flags made it: the unix socket serves, and /status names the
// problem.
func fromSettings(o *apiOptions, dir uci.Dir, set map[string]bool) {
	s, err := settings.Load(dir)
	var errs settings.Errors
	if err != nil && !errors.As(err, &errs) {
		return // the file did not parse at all
	}
	if slices.ContainsFunc(errs, func(e settings.FieldError) bool { return strings.HasPrefix(e.Field, "api.") }) {
		return
	}
	if set["listen"] || s.API.Listen == "" {
		return
	}
	o.listen = s.API.Listen
	if !set["token-file"] {
		o.tokenFile, o.createMissingToken = s.API.TokenFile, true
	}
}

func serveAPI(o apiOptions, stdout, stderr io.Writer) error {
	logger := newLogger(stderr, o.logLevel).With().Str("part", "api").Logger()
	var token string
	if o.listen != "" {
		if err := loopbackOnly(o.listen); err != nil {
			return err
		}
		if o.tokenFile == "" {
			return errors.New("--listen needs --token-file: TCP is open to every local user")
		}
		var err error
		if token, err = readToken(o.tokenFile, o.createMissingToken); err != nil {
			return err
		}
	}
	cfg := webapi.Config{
		Dir:       uci.Dir{Path: o.confDir},
		Agent:     webapi.RunDirAgent{Dir: o.runDir},
		ExportDir: o.runDir,
		Log:       logger,
		Version:   version,
	}
	if o.manageFirewall {
		cfg.Firewall = firewall.New(firewall.Options{Backend: o.backend, Config: uci.Dir{Path: o.confDir}})
	}
	api := webapi.New(cfg)
	defer api.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var servers []*http.Server
	errc := make(chan error, 2)
	serve := func(ln net.Listener, acc webapi.Access) {
		srv := &http.Server{
			Handler:           api.Handler(acc),
			ConnContext:       webapi.ConnContext,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			// An update may wait for another, then for the firewall and the
			// agent, then roll back.
			WriteTimeout:   90 * time.Second,
			IdleTimeout:    time.Minute,
			MaxHeaderBytes: 16 << 10,
			ErrorLog:       log.New(zerologWriter{logger}, "", 0),
		}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	ln, err := listenUnix(o.socket, o.socketGroup)
	if err != nil {
		return err
	}
	defer os.Remove(o.socket)
	serve(ln, webapi.Access{})
	where := o.socket
	if o.listen != "" {
		tl, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", o.listen, err)
		}
		serve(tl, webapi.Access{Token: token})
		where += " and http://" + tl.Addr().String()
	}
	logger.Info().Str("socket", o.socket).Str("tcp", o.listen).Bool("firewall", o.manageFirewall).Str("config", o.confDir).Msg("serving the control API")
	if o.printTry {
		fmt.Fprintf(stdout, "api      listening on %s; try:\n", where)
		fmt.Fprintf(stdout, "         curl --unix-socket %s http://localhost/api/v1/status\n", o.socket)
		if o.listen != "" {
			fmt.Fprintf(stdout, "         curl -H \"Authorization: Bearer $(cat %s)\" http://%s/api/v1/settings\n", o.tokenFile, o.listen)
			// The fragment never leaves the browser; the page keeps the
			// token for the tab only.
			fmt.Fprintf(stdout, "page     open http://%s/#token=%s\n", o.listen, token)
		}
	}

	// Listeners come and go, and the rules follow them only when applied;
	// the statistics are recounted so that requests find little to do.
	go func() {
		tick := time.NewTicker(o.convergeEvery)
		defer tick.Stop()
		for {
			if _, err := api.Converge(ctx); err != nil && ctx.Err() == nil {
				logger.Error().Err(err).Msg("firewall")
			}
			if err := api.RefreshStats(ctx); err != nil && ctx.Err() == nil {
				logger.Warn().Err(err).Msg("statistics")
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdown)
	}
	logger.Info().Msg("stopped")
	return err
}

// listenUnix creates the socket with mode 0660 (never more open, not even
// for a moment) and the given group, replacing a stale socket file.
func listenUnix(path, group string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use: another minipot api is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket folder: %w", err)
	}
	// The umask is process-wide; nothing else creates files this early.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if group != "" {
		gid, err := lookupGroup(group)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket group %q: %w", group, err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket mode: %w", err)
	}
	return ln, nil
}

func lookupGroup(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// loopbackOnly refuses a TCP address other programs on the network could
// reach: the API changes the router's settings (settings.LoopbackListen,
// which api.listen is checked with too).
func loopbackOnly(addr string) error {
	if why := settings.LoopbackListen(addr); why != "" {
		return fmt.Errorf("--listen %s", why)
	}
	return nil
}

// readToken reads the bearer token. The file must be a regular file of
// the API's own user that nobody else can read. With create (development,
// or a file that api.token_file names) a missing one is created with a
// random token.
func readToken(path string, create bool) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		buf := make([]byte, 24)
		rand.Read(buf)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(buf)+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s can be read by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("token file %s belongs to uid %d, not to this user", path, st.Uid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) < 16 || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("token file %s: the token must be one word of at least 16 characters", path)
	}
	return token, nil
}

// zerologWriter sends net/http's own messages (TLS handshakes, panics,
// malformed requests) to the log.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
