package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/export"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// exportStatusEvery is how often the exporter's status file is refreshed
// and the settings file looked at: whoever changes the file (the API,
// LuCI through rpcd, `uci commit`), the exporter follows within seconds,
// with or without a SIGHUP.
const exportStatusEvery = 2 * time.Second

func runExport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	confDir := fs.String("c", "/etc/config", "UCI config `dir`ectory holding package ucollect")
	dev := fs.Bool("dev", false, "development mode: config in ./"+devConfigDir+", status in ./"+devRunDir)
	allowRoot := fs.Bool("allow-root", false, "run even as root (the exporter talks to the internet; run it as the agent's unprivileged user)")
	runDir := fs.String("run-dir", "/var/run/minipot", "`dir`ectory for the exporter's status report, read by the control API")
	u := usage{"export [-c DIR | --dev] [--run-dir DIR] [--allow-root]",
		[]string{"Publishes stored events to the MQTT broker of section export, and alerts to its webhook; SIGHUP reloads the settings."}}
	words, code, ok := parseFlags(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := noArgs(fs, words, stderr); !ok {
		return code
	}
	// Root is refused in every mode, as for the agent: the exporter reads
	// what the network sends (a broker's packets, a webhook's answers).
	if refuseRoot("export", *allowRoot, "run it as the agent's unprivileged user", stderr) {
		return 1
	}
	if *dev {
		*confDir, *runDir = devConfigDir, devRunDir
		if err := seedDevConfig(*confDir); err != nil {
			fmt.Fprintln(stderr, "minipot export:", err)
			return 1
		}
	}
	if err := serveExport(uci.Dir{Path: *confDir}, *runDir, stderr); err != nil {
		fmt.Fprintln(stderr, "minipot export:", err)
		return 1
	}
	return 0
}

// serveExport runs the exporter with the settings of the file, and again
// with new ones on each SIGHUP. The cursors are files, so a restart of
// the pumps repeats at most the batch in flight.
func serveExport(dir uci.Dir, runDir string, stderr io.Writer) error {
	s, digest, err := settings.LoadDigest(dir)
	if err != nil {
		return err
	}
	log := newLogger(stderr, s.Agent.LogLevel).With().Str("part", "export").Logger()
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		log.Warn().Err(err).Msg("no status report: the control API will not see the exporter")
	}
	started := time.Now().UTC()
	defer os.Remove(filepath.Join(runDir, export.StatusFile))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for {
		src := &export.StoreSource{Path: s.Store.Path}
		x := &export.Exporter{Settings: s, Source: src, Log: log}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- x.Run(ctx) }()
		log.Info().Bool("mqtt", s.Export.Enabled).Str("broker", s.Export.Broker).
			Bool("webhook", s.Export.WebhookURL != "").Msg("export started")
		report := func() {
			st := x.Status()
			st.PID, st.Started, st.Updated = os.Getpid(), started, time.Now().UTC()
			if err := export.WriteStatus(runDir, st); err != nil {
				log.Warn().Err(err).Msg("status report")
			}
		}
		report()
		tick := time.NewTicker(exportStatusEvery)
		var sig os.Signal
	wait:
		for {
			select {
			case <-tick.C:
				report()
				if _, d, err := settings.LoadDigest(dir); err == nil && d != digest {
					sig = syscall.SIGHUP
					break wait
				}
			case sig = <-sigs:
				break wait
			case err := <-done:
				// Only a cursor that cannot be written ends the pumps;
				// report it and wait for a signal (procd would respawn
				// into the same error otherwise).
				log.Error().Err(err).Msg("export stopped")
				report()
				done = nil
			}
		}
		tick.Stop()
		cancel()
		if done != nil {
			<-done
		}
		src.Close()
		if sig != syscall.SIGHUP {
			log.Info().Str("signal", sig.String()).Msg("stopping")
			return nil
		}
		next, nextDigest, err := settings.LoadDigest(dir)
		if err != nil {
			log.Error().Err(err).Msg("reload: keeping the running settings")
			digest = nextDigest // said once, not every tick
			continue
		}
		s, digest = next, nextDigest
	}
}
