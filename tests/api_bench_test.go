package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/uci"
	"github.com/minipot/minipot/webapi"
)

// benchAgent starts the real agent for a benchmark (the harness's
// startAgent takes a *testing.T) and returns its config folder.
func benchAgent(b *testing.B, extra string) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "minipot-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	host := fmt.Sprintf("127.0.0.%d", 10+hostSeq.Add(1)%240)
	conf := "config fakes 'fakes'\n\toption enabled '1'\n\n" +
		"config agent 'agent'\n\toption listen '" + host + "'\n\toption login_delay '0'\n\toption log_level 'warn'\n\n" +
		"config store 'store'\n\toption path '" + filepath.Join(dir, "events.db") + "'\n" + extra
	if err := os.WriteFile(filepath.Join(dir, "ucollect"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	if os.Geteuid() == 0 {
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
	}
	cmd := exec.Command(minipotBin, "agent", "-c", dir, "--run-dir", filepath.Join(dir, "run"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := (webapi.RunDirAgent{Dir: filepath.Join(dir, "run")}).Report(); err == nil {
			return dir
		}
		if time.Now().After(deadline) {
			b.Fatal("the agent did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchUpdates times PATCH requests that switch 2323tcp off and on, each
// validated, written (fsync), converged and confirmed by the agent.
func benchUpdates(b *testing.B, client *http.Client) {
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		body := fmt.Sprintf(`{"services": {"2323tcp": {"enabled": %v}}}`, i%2 == 1)
		req, _ := http.NewRequest("PATCH", "http://localhost/api/v1/settings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != 200 || !strings.Contains(string(out), `"applied": true`) {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkSettingsUpdate measures a settings update end to end: validate,
// write the UCI file, converge the firewall, SIGHUP the real agent and
// wait for its report. "fake-firewall" runs the API in this process with
// firewall.Fake; "iptables" runs `minipot api --firewall` in a network
// namespace of its own (root only) with the real iptables.
//
//	go test ./tests -run '^$' -bench SettingsUpdate -benchtime 200x
func BenchmarkSettingsUpdate(b *testing.B) {
	b.Run("fake-firewall", func(b *testing.B) {
		dir := benchAgent(b, "")
		api := webapi.New(webapi.Config{Dir: uci.Dir{Path: dir}, Firewall: &firewall.Fake{},
			Agent: webapi.RunDirAgent{Dir: filepath.Join(dir, "run")}, Log: zerolog.Nop()})
		defer api.Close()
		sock := filepath.Join(dir, "api.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: api.Handler(webapi.Access{}), ConnContext: webapi.ConnContext}
		go srv.Serve(ln)
		defer srv.Close()
		benchUpdates(b, unixClient(sock, 30*time.Second))
	})
	b.Run("iptables", func(b *testing.B) {
		if os.Geteuid() != 0 {
			b.Skip("needs root for a network namespace")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			b.Skip("needs unshare (util-linux)")
		}
		dir := benchAgent(b, "\nconfig firewall 'firewall'\n\toption wan_devices 'wan0'\n")
		sock := filepath.Join(dir, "api.sock")
		cmd := exec.Command(unshare, "--net", minipotBin, "api", "-c", dir, "--run-dir", filepath.Join(dir, "run"),
			"--socket", sock, "--firewall", "--log-level", "warn")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		client := unixClient(sock, 30*time.Second)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err := client.Get("http://localhost/api/v1/health"); err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the API did not start: %s", stderr.String())
			}
		}
		benchUpdates(b, client)
	})
}
