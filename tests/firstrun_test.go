package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRun is a developer's first `make run` in a fresh checkout: it
// starts with no warning and no error, and a second `make run` beside it
// fails (it cannot listen) and exits non-zero. Both run in a network
// namespace of their own, as make run's addresses are fixed.
func TestMakeRun(t *testing.T) {
	needRoot(t)
	mk := need(t, "make")
	need(t, "bash")
	ns := fmt.Sprintf("%s%drun", nsPrefix, os.Getpid())
	addNamespace(t, ns)
	// A fresh checkout as far as make run sees it: the Makefile and the
	// binary `make build` would have built (-o build: not rebuilt here).
	dir := t.TempDir()
	copyFile(t, "../Makefile", filepath.Join(dir, "Makefile"))
	os.Mkdir(filepath.Join(dir, "bin"), 0o755)
	copyFile(t, minipotBin, filepath.Join(dir, "bin/minipot"))
	os.Chmod(filepath.Join(dir, "bin/minipot"), 0o755)

	// As a developer does: not as root, which make run refuses without
	// FIREWALL=1 (TestRefusesRoot).
	os.Chmod(filepath.Dir(dir), 0o755)
	chownNobody(t, dir)
	setpriv := need(t, "setpriv")
	makeRun := func(out *syncBuffer) *exec.Cmd {
		cmd := exec.Command("ip", "netns", "exec", ns, setpriv, "--reuid", fmt.Sprint(nobody), "--regid", fmt.Sprint(nobody), "--clear-groups",
			mk, "-s", "-o", "build", "run")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := &syncBuffer{}
	cmd := makeRun(first)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Error("make run did not stop on Ctrl-C")
		}
	})
	sock := filepath.Join(dir, "var/run/api.sock")
	client := unixClient(sock, 5*time.Second)
	eventually(t, 20*time.Second, "the API reports the agent running", func() (bool, string) {
		resp, err := client.Get("http://localhost/api/v1/status")
		if err != nil {
			return false, err.Error() + "\n" + first.String()
		}
		defer resp.Body.Close()
		var st struct {
			Agent struct {
				Running bool `json:"running"`
			} `json:"agent"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
		return st.Agent.Running, first.String()
	})
	time.Sleep(time.Second) // the API's first background pass (statistics)
	for _, line := range strings.Split(first.String(), "\n") {
		if strings.Contains(line, " WRN ") || strings.Contains(line, " ERR ") || strings.Contains(strings.ToLower(line), "warning") {
			t.Errorf("a fresh make run logs: %s", line)
		}
	}

	second := &syncBuffer{}
	cmd2 := makeRun(second)
	done2 := make(chan error, 1)
	go func() { done2 <- cmd2.Wait() }()
	select {
	case err := <-done2:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("a second make run: %v, want a non-zero exit\n%s", err, second.String())
		}
		if !strings.Contains(second.String(), "in use") {
			t.Errorf("a second make run does not say what is in use:\n%s", second.String())
		}
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd2.Process.Pid, syscall.SIGKILL)
		t.Errorf("a second make run still runs after 30 s:\n%s", second.String())
	}
	// The first one is unharmed.
	if resp, err := client.Get("http://localhost/api/v1/health"); err != nil {
		t.Errorf("the first make run's API stopped answering: %v", err)
	} else {
		resp.Body.Close()
	}
}
