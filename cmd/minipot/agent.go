package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent"
	"github.com/minipot/minipot/agent/ftp"
	"github.com/minipot/minipot/agent/httpd"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/smtp"
	"github.com/minipot/minipot/agent/ssh"
	"github.com/minipot/minipot/agent/telnet"
	"github.com/minipot/minipot/internal/atomicfile"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
	"github.com/minipot/minipot/internal/uci"
)

//go:embed dev.ucollect
var devConfig []byte

// devConfigDir is where --dev keeps its configuration, under the working
// directory so that nothing needs root.
const (
	devConfigDir = "var/config"
	devRunDir    = "var/run"
)

// reportEvery is how often the status report's counters are refreshed.
const reportEvery = 10 * time.Second

func runAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	confDir := fs.String("c", "/etc/config", "UCI config `dir`ectory holding package ucollect")
	dev := fs.Bool("dev", false, "development mode: config in ./"+devConfigDir+" (created from a built-in default if missing), fakes on 127.0.0.1, store in ./var")
	allowRoot := fs.Bool("allow-root", false, "run even as root (the agent faces the internet; run it as an unprivileged user)")
	logLevel := fs.String("log-level", "", "override agent.log_level (debug, info, warn, error)")
	runDir := fs.String("run-dir", "/var/run/minipot", "`dir`ectory for the agent's status report, read by the control API")
	u := usage{"agent [-c DIR | --dev] [--log-level L] [--allow-root]",
		[]string{"Runs the minipots in the foreground; SIGHUP reloads the settings."}}
	words, code, ok := parseFlags(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := noArgs(fs, words, stderr); !ok {
		return code
	}
	// Root is refused in every mode, --dev included: the agent parses what
	// the internet sends.
	if refuseRoot("agent", *allowRoot, "it faces the internet. Run it as an unprivileged user", stderr) {
		return 1
	}
	if *dev {
		*confDir = devConfigDir
		*runDir = devRunDir
		if err := seedDevConfig(*confDir); err != nil {
			fmt.Fprintln(stderr, "minipot agent:", err)
			return 1
		}
	}
	if err := serveAgent(uci.Dir{Path: *confDir}, *runDir, *logLevel, *dev, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "minipot agent:", err)
		return 1
	}
	return 0
}

// devLoopback keeps development mode on loopback whatever the settings say
// (the API may have written agent.listen): `make run`, possibly as root with
// FIREWALL=1, is never reachable from the network.
func devLoopback(s *settings.Settings, stderr io.Writer) {
	if ip, err := netip.ParseAddr(s.Agent.Listen); err == nil && ip.IsLoopback() {
		return
	}
	fmt.Fprintf(stderr, "minipot agent: development mode listens on 127.0.0.1 only, not on %q (agent.listen)\n", s.Agent.Listen)
	s.Agent.Listen = "127.0.0.1"
}

func seedDevConfig(dir string) error {
	path := filepath.Join(dir, settings.Package)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// make run starts the agent, the API and the exporter at once, and
	// each seeds the file: written whole, so none reads it half-written
	// (an empty file is a valid one, with the router's default store path).
	if err := atomicfile.Write(path, devConfig, 0o644); err != nil {
		return fmt.Errorf("development config: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.RFC3339}).
		Level(lvl).With().Timestamp().Logger()
}

// servers makes the fake of each server of the service table
// (settings.Service.Server): the one place a server becomes a handler.
// TestEveryServerHasAHandler holds it to the table.
var servers = map[string]func(settings.Service, settings.Settings) (session.Handler, error){
	settings.BusyBoxTelnetd: func(settings.Service, settings.Settings) (session.Handler, error) { return &telnet.Handler{}, nil },
	settings.Nginx: func(settings.Service, settings.Settings) (session.Handler, error) {
		return httpd.NewServer(httpd.Options{}), nil
	},
	settings.Squid: func(svc settings.Service, _ settings.Settings) (session.Handler, error) {
		return httpd.NewProxy(httpd.Options{Port: svc.Port}), nil
	},
	settings.Polipo: func(svc settings.Service, _ settings.Settings) (session.Handler, error) {
		return httpd.NewPolipo(httpd.Options{Port: svc.Port}), nil
	},
	settings.Vsftpd:  func(settings.Service, settings.Settings) (session.Handler, error) { return &ftp.Handler{}, nil },
	settings.Postfix: func(settings.Service, settings.Settings) (session.Handler, error) { return &smtp.Handler{}, nil },
	settings.Dropbear: func(_ settings.Service, s settings.Settings) (session.Handler, error) {
		// By default beside the store: a folder the agent may write.
		dir := s.Agent.HostKeys
		if dir == "" {
			dir = filepath.Dir(s.Store.Path)
		}
		keys, err := ssh.LoadHostKeys(dir)
		if err != nil {
			return nil, err
		}
		return ssh.New(keys), nil
	},
}

// makeHandlers makes one handler per service of the table. A service whose
// handler cannot be made (an SSH host key that cannot be written) is
// logged and left without one: the agent then reports it as not
// listening, and the others run.
func makeHandlers(s settings.Settings, log zerolog.Logger) agent.HandlerFor {
	made := map[string]session.Handler{}
	for _, svc := range settings.Services() {
		mk, ok := servers[svc.Server]
		if !ok {
			log.Error().Str("service", svc.Key).Str("server", svc.Server).Msg("no handler for this server")
			continue
		}
		h, err := mk(svc, s)
		if err != nil {
			log.Error().Err(err).Str("service", svc.Key).Msg("cannot make the fake")
			continue
		}
		made[svc.Key] = h
	}
	return func(svc settings.Service) session.Handler { return made[svc.Key] }
}

func serveAgent(dir uci.Dir, runDir, levelOverride string, dev bool, stdout, stderr io.Writer) error {
	s, digest, err := loadSettings(dir, stderr)
	if err != nil {
		return err
	}
	if dev {
		devLoopback(&s, stderr)
	}
	level := s.Agent.LogLevel
	if levelOverride != "" {
		level = levelOverride
	}
	log := newLogger(stderr, level)
	// Before anything slow (the store's integrity check): a reload that
	// comes while the agent starts is kept for later, not its death (the
	// default action of SIGHUP).
	sigs := make(chan os.Signal, 4) // a stop behind a reload is not lost
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	_, envLimit := os.LookupEnv("GOMEMLIMIT")
	budget := applyMemoryBudget(s, envLimit)
	log.Info().Int64("soft_limit_mib", budget>>20).Bool("from_env", envLimit).Msg("memory budget")

	// A store that cannot be opened leaves the fakes running without one
	// (livestore.go); the report and the log say why.
	st := openLiveStore(s, log)
	defer st.close()

	a := agent.New(log, withEventLog(st, log), makeHandlers(s, log))
	defer a.Close()
	if err := a.Apply(s); err != nil {
		log.Error().Err(err).Msg("some services could not start")
	}
	printTryIt(stdout, a.Status())

	now := time.Now().UTC()
	rl := &report.Loop{Dir: runDir, Every: reportEvery,
		Live: func(r *report.Report) {
			r.Services, r.Connections = a.Status(), a.Counters()
			r.Store = st.counters()
		},
		OnError: func(err error) { log.Warn().Err(err).Msg("status report") },
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		log.Warn().Err(err).Msg("no status report: the control API will not see the agent")
		rl.Dir = ""
	}
	loaded := func(s settings.Settings, digest string, loadErr error) func(*report.Report) {
		return func(r *report.Report) {
			r.Loaded, r.ConfigDigest, r.ConfigError = time.Now().UTC(), digest, ""
			if loadErr != nil {
				r.ConfigError = loadErr.Error()
				return
			}
			r.Enabled, r.LogCredentials = s.Enabled, s.LogCredentials
		}
	}
	if rl.Dir != "" {
		rl.Set(func(r *report.Report) {
			*r = report.Report{PID: os.Getpid(), Version: version, Started: now}
			loaded(s, digest, nil)(r)
			r.Loaded = now
		})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { rl.Run(ctx); close(done) }()
		defer func() { stop(); <-done }()
	}

	// Memory back after a burst of connections (memory.go).
	reclaimCtx, stopReclaim := context.WithCancel(context.Background())
	defer stopReclaim()
	go func() {
		rec := reclaimer{release: func() {
			ctx, cancel := context.WithTimeout(reclaimCtx, 5*time.Second)
			defer cancel()
			if err := st.releaseMemory(ctx); err != nil {
				log.Debug().Err(err).Msg("memory")
			}
		}}
		t := time.NewTicker(reclaimEvery)
		defer t.Stop()
		for {
			select {
			case <-reclaimCtx.Done():
				return
			case <-t.C:
				if rec.observe(a.Counters().Open) {
					log.Debug().Msg("memory returned after a burst of connections")
				}
			}
		}
	}()
	for {
		sig := <-sigs
		if sig != syscall.SIGHUP {
			log.Info().Str("signal", sig.String()).Msg("stopping")
			return nil
		}
		next, nextDigest, err := loadSettings(dir, stderr)
		if err != nil {
			log.Error().Err(err).Msg("reload: keeping the running settings")
			if rl.Dir != "" {
				rl.Set(loaded(s, nextDigest, err))
			}
			continue
		}
		if dev {
			devLoopback(&next, stderr)
		}
		if st.reload(next) {
			log.Warn().Str("path", next.Store.Path).Str("writing", st.counters().Path).Msg("reload: a new store.path takes effect at restart")
		}
		applyMemoryBudget(next, envLimit)
		if err := a.Apply(next); err != nil {
			log.Error().Err(err).Msg("reload: some services could not start")
		}
		s = next
		log.Info().Bool("enabled", s.Enabled).Bool("log_credentials", s.LogCredentials).
			Strs("disable", s.Disabled).Msg("reloaded")
		if rl.Dir != "" {
			rl.Set(loaded(s, nextDigest, nil))
		}
	}
}

func storeOptions(s settings.Settings, log zerolog.Logger) store.Options {
	return store.Options{
		QueueSize: s.Store.Queue, MaxAge: s.Store.MaxAge, MaxRows: int64(s.Store.MaxRows),
		MaxSize: int64(s.Store.MaxSize) << 20,
		OnError: func(err error) { log.Error().Err(err).Msg("store") },
	}
}

// tryKind is a command that pokes a fake of each protocol: %[1]s is the
// host, %[2]s the port, %[3]s both.
var tryKind = map[settings.Kind]string{
	settings.Telnet: "telnet %[1]s %[2]s",
	settings.HTTP:   "curl -i -u admin:admin http://%[3]s/",
	settings.Proxy:  "curl -i -x http://admin:admin@%[3]s http://example.com/",
	settings.FTP:    "curl -v ftp://admin:admin@%[3]s/",
	settings.SMTP:   "swaks --server %[1]s --port %[2]s --auth LOGIN --auth-user admin --auth-password admin --quit-after AUTH",
	settings.SSH:    "ssh -p %[2]s admin@%[1]s",
}

// printTryIt tells a person where each fake listens and how to poke it.
func printTryIt(w io.Writer, statuses []report.ServiceStatus) {
	for _, st := range statuses {
		if !st.Listening {
			fmt.Fprintf(w, "%-8s (port %d): not listening: %s\n", st.Key, st.Port, st.Reason)
			continue
		}
		svc, _ := settings.LookupService(st.Key)
		host, port := splitHostPort(st.Address)
		try := fmt.Sprintf(tryKind[svc.Kind], host, port, st.Address)
		fmt.Fprintf(w, "%-8s (port %d) listening on %-16s try: %s\n", st.Key, st.Port, st.Address, try)
	}
}

// sameFile reports whether path names the file at abs.
func sameFile(path, abs string) bool {
	p, err := filepath.Abs(path)
	return err == nil && p == abs
}
