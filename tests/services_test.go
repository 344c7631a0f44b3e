package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// The FTP, SMTP and SSH fakes against the real clients people and bots
// use: every attempt is refused and stored, nothing is ever accepted.

func TestFTPClients(t *testing.T) {
	curl, lftp, ftp := need(t, "curl"), need(t, "lftp"), need(t, "ftp")
	a := startAgent(t, nil)
	host, port, _ := net.SplitHostPort(a.Addr("21tcp"))

	out, err := run(t, 30*time.Second, curl, "-sS", "ftp://curluser:curlpass@"+a.Addr("21tcp")+"/")
	if err == nil || !strings.Contains(out, "530") {
		t.Errorf("curl: %v\n%s", err, out)
	}
	out, _ = run(t, 30*time.Second, lftp, "-c",
		fmt.Sprintf("set net:max-retries 1; set net:timeout 5; set cmd:fail-exit yes; open -u lftpuser,lftppass -p %s %s; ls", port, host))
	if !strings.Contains(out, "530 Login incorrect") {
		t.Errorf("lftp:\n%s", out)
	}
	cmd := exec.Command(ftp, "-n", "-v", host, port)
	cmd.Stdin = strings.NewReader("user ftpuser ftppass\nsystem\npassive\nls\nquit\n")
	b, _ := cmd.CombinedOutput()
	for _, want := range []string{"220 (vsFTPd 3.0.3)", "530 Login incorrect.", "215 UNIX Type: L8", "221 Goodbye."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ftp: no %q in\n%s", want, b)
		}
	}
	got := map[string]bool{}
	for _, e := range a.find(t, 3, logins("21tcp")) {
		got[e.Username+"/"+e.Password] = true
	}
	for _, w := range []string{"curluser/curlpass", "lftpuser/lftppass", "ftpuser/ftppass"} {
		if !got[w] {
			t.Errorf("login %s not stored: %v", w, got)
		}
	}
}

func TestSMTPClients(t *testing.T) {
	swaks, curl := need(t, "swaks"), need(t, "curl")
	a := startAgent(t, map[string]string{"agent.hostname": "mx.example.net"})
	for _, key := range []string{"25tcp", "587tcp"} {
		host, port, _ := net.SplitHostPort(a.Addr(key))
		for _, mech := range []string{"LOGIN", "PLAIN"} {
			user := strings.ToLower(mech) + key
			out, _ := run(t, 30*time.Second, swaks, "--server", host, "--port", port, "--auth", mech,
				"--auth-user", user, "--auth-password", "pw-"+user, "--from", "a@example.org", "--to", "b@example.com")
			for _, want := range []string{"220 mx.example.net ESMTP Postfix (Debian/GNU)", "250-AUTH PLAIN LOGIN", "535 5.7.8 Error: authentication failed:"} {
				if !strings.Contains(out, want) {
					t.Errorf("swaks %s %s: no %q in\n%s", key, mech, want, out)
				}
			}
			if strings.Contains(out, "STARTTLS") {
				t.Errorf("STARTTLS offered:\n%s", out)
			}
		}
		body := filepath.Join(t.TempDir(), "mail.txt")
		os.WriteFile(body, []byte("Subject: hi\r\n\r\nspam\r\n"), 0o644)
		out, err := run(t, 30*time.Second, curl, "-sS", "smtp://"+a.Addr(key), "--mail-from", "spammer@example.org",
			"--mail-rcpt", "victim@example.com", "-T", body)
		if err == nil || !strings.Contains(out, "554") {
			t.Errorf("curl smtp %s: %v\n%s", key, err, out)
		}
		got := map[string]string{}
		for _, e := range a.find(t, 2, logins(key)) {
			got[e.Username+"/"+e.Password] = e.Method
		}
		if got["login"+key+"/pw-login"+key] != "AUTH LOGIN" || got["plain"+key+"/pw-plain"+key] != "AUTH PLAIN" {
			t.Errorf("%s logins stored: %v", key, got)
		}
		rcpt := a.find(t, 1, func(e event.Event) bool { return e.Service == key && e.Action == event.Request })
		if rcpt[0].URL != "victim@example.com" || rcpt[0].Detail != "MAIL FROM:<spammer@example.org>" {
			t.Errorf("%s relay attempt stored as %+v", key, rcpt[0])
		}
	}
}

func TestSSHClients(t *testing.T) {
	ssh, sshpass, keygen := need(t, "ssh"), need(t, "sshpass"), need(t, "ssh-keygen")
	a := startAgent(t, nil)
	host, port, _ := net.SplitHostPort(a.Addr("22tcp"))
	dir := t.TempDir()
	common := []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + filepath.Join(dir, "known"),
		"-o", "ConnectTimeout=10", "-p", port}

	out, err := run(t, 30*time.Second, sshpass, append([]string{"-p", "sshpass-pw", ssh, "-v",
		"-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"}, append(common, "root@"+host, "true")...)...)
	if err == nil || !strings.Contains(out, "remote software version dropbear_2022.82") || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with a password: %v\n%s", err, tail(out, 3000))
	}
	// What ssh -v tells of the methods: Dropbear's two, never
	// keyboard-interactive (see docs/agent.md for their order).
	if !regexp.MustCompile(`Authentications that can continue: (publickey,password|password,publickey)\s`).MatchString(out) {
		t.Errorf("ssh -v: not Dropbear's methods:\n%s", tail(out, 3000))
	}
	// Dropbear's signature algorithms, in its order, never rsa-sha2-512.
	const sigAlgs = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521," +
		"sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-256,ssh-rsa"
	if !strings.Contains(out, "server-sig-algs=<"+sigAlgs+">") {
		t.Errorf("ssh -v: not Dropbear's server-sig-algs %s:\n%s", sigAlgs, tail(out, 3000))
	}
	// An askpass program answers every prompt (sshpass answers one):
	// after agent.attempts (3) refusals the fake closes the connection
	// without a disconnect message, as Dropbear does ("Connection
	// closed", not "Received disconnect ... too many authentication
	// failures").
	askpass := filepath.Join(dir, "askpass")
	os.WriteFile(askpass, []byte("#!/bin/sh\necho again\n"), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ssh, append([]string{"-v", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=10"},
		append(common, "again@"+host, "true")...)...)
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	b, err := cmd.CombinedOutput()
	if out := string(b); err == nil || !strings.Contains(out, "Connection closed by") || strings.Contains(out, "Received disconnect") ||
		strings.Count(out, "Authentications that can continue") != 3 {
		t.Errorf("ssh after the last attempt: %v\n%s", err, tail(out, 3000))
	}

	key := filepath.Join(dir, "id_ed25519")
	if out, err := run(t, 30*time.Second, keygen, "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	fp, _ := run(t, 10*time.Second, keygen, "-l", "-E", "sha256", "-f", key+".pub")
	out, err = run(t, 30*time.Second, ssh, append([]string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey"}, append(common, "keyuser@"+host, "true")...)...)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with a key: %v\n%s", err, out)
	}

	var pw, pk *event.Event
	again := 0
	for _, e := range a.find(t, 5, logins("22tcp")) {
		switch {
		case e.Username == "again" && e.Password == "again" && e.Method == "password":
			again++
		case e.Method == "password" && e.Username == "root" && e.Password == "sshpass-pw":
			pw = &e
		case e.Method == "publickey" && e.Username == "keyuser":
			pk = &e
		}
	}
	if pw == nil || !strings.HasPrefix(pw.UserAgent, "SSH-2.0-OpenSSH") {
		t.Errorf("password attempt stored as %+v", pw)
	}
	if again != 3 {
		t.Errorf("%d of the 3 attempts before the close stored", again)
	}
	if f := strings.Fields(fp); pk == nil || len(f) < 2 || pk.Detail != "ssh-ed25519 "+f[1] || pk.Password != "" {
		t.Errorf("key attempt stored as %+v, ssh-keygen says %q", pk, fp)
	}
	// The host keys were made once, beside the store, and stay private.
	for _, name := range []string{"ssh_host_ed25519_key", "ssh_host_rsa_key"} {
		st, err := os.Stat(filepath.Join(a.Dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", name, err)
		}
	}
	known, _ := os.ReadFile(filepath.Join(dir, "known"))
	a.Stop()
	a2 := startAgentIn(t, a)
	os.Remove(filepath.Join(dir, "known2"))
	out, _ = run(t, 30*time.Second, ssh, append([]string{"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + filepath.Join(dir, "known"), "-F", "/dev/null", "-p", port}, "x@"+a2.Host, "true")...)
	if strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") || len(known) == 0 {
		t.Errorf("the host key changed across a restart:\n%s", out)
	}
}

// startAgentIn starts a second agent on the first one's folder (same
// config, store and host keys).
func startAgentIn(t *testing.T, prev *agentProc) *agentProc {
	t.Helper()
	a := &agentProc{t: t, Host: prev.Host, Dir: prev.Dir, DB: prev.DB,
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(minipotBin, "agent", "-c", a.Dir, "--run-dir", filepath.Join(a.Dir, "run"))
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	a.cmd.SysProcAttr = prev.cmd.SysProcAttr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(a.Stop)
	a.waitStarted()
	return a
}

// TestNewServicesHostile: over-long lines, idle clients, garbage and a
// flood of handshakes cost the FTP, SMTP and SSH fakes a bounded amount
// and leave them answering others.
func TestNewServicesHostile(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.idle_timeout": "1s", "limits.session_timeout": "4s",
		"limits.max_per_ip": "1000", "limits.max_per_network": "1000", "limits.max_connections": "1000"})
	dial := func(key string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", a.Addr(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(15 * time.Second))
		return c, bufio.NewReader(c)
	}
	line := func(r *bufio.Reader) string { s, _ := r.ReadString('\n'); return s }

	t.Run("long lines", func(t *testing.T) {
		for key, want := range map[string]string{"21tcp": "500 Input line too long.\r\n", "25tcp": "500 5.5.0 Error: line too long\r\n"} {
			c, r := dial(key)
			line(r)
			go c.Write([]byte("USER " + strings.Repeat("A", 10<<20) + "\r\n"))
			if got := line(r); got != want {
				t.Errorf("%s: %q, want %q", key, got, want)
			}
			if _, err := r.ReadByte(); err == nil {
				t.Errorf("%s: open after an over-long line", key)
			}
		}
	})
	t.Run("idle", func(t *testing.T) {
		for key, want := range map[string]string{"21tcp": "421 Timeout.\r\n", "25tcp": "421 4.4.2 OpenWrt Error: timeout exceeded\r\n"} {
			_, r := dial(key)
			line(r)
			start := time.Now()
			if got := line(r); got != want {
				t.Errorf("%s: %q, want %q", key, got, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: idle client kept %s", key, d)
			}
		}
		c, r := dial("22tcp")
		line(r) // the banner; then silence
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Errorf("ssh idle: %v", err)
		}
		_ = c
	})
	t.Run("slow", func(t *testing.T) {
		// A byte every 300 ms never trips the idle timeout: the session
		// timeout ends it, whatever the service.
		var wg sync.WaitGroup
		for _, key := range []string{"21tcp", "25tcp", "22tcp"} {
			c, r := dial(key)
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				go func() {
					msg := []byte("USER slowloris-slowloris-slowloris\r\n")
					if key == "22tcp" {
						msg = []byte("SSH-2.0-slowloris-slowloris-slowloris-slowloris\r\n")
					}
					for _, b := range msg {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(300 * time.Millisecond)
					}
				}()
				io.Copy(io.Discard, r)
				if d := time.Since(start); d < 3*time.Second || d > 8*time.Second {
					t.Errorf("%s: a slow client was served %s; the session timeout is 4s", key, d)
				}
			}()
		}
		wg.Wait()
	})
	t.Run("garbage", func(t *testing.T) {
		garbage := make([]byte, 64<<10)
		for i := range garbage {
			garbage[i] = byte(i*7 + i>>8)
		}
		for _, key := range []string{"21tcp", "25tcp", "22tcp"} {
			c, r := dial(key)
			go c.Write(garbage)
			io.Copy(io.Discard, r) // the fake closes, at a limit or at the idle timeout
		}
		for _, key := range []string{"21tcp", "25tcp", "22tcp"} {
			garbled := func(e event.Event) bool {
				return e.Service == key && e.Action == event.Invalid && !strings.Contains(e.Detail, "too long")
			}
			if inv := a.find(t, 1, garbled); len(inv) > 8 {
				t.Errorf("%s: %d invalid events for one connection", key, len(inv))
			}
		}
	})
	t.Run("handshake flood", func(t *testing.T) {
		// 200 clients open SSH connections at once and send their version;
		// meanwhile a real client still gets its answer.
		var wg sync.WaitGroup
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", a.Addr("22tcp"))
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte("SSH-2.0-flood\r\n"))
				io.Copy(io.Discard, io.LimitReader(c, 4096))
			}()
		}
		// Past ssh.DefaultHandshakes handshakes at once a newcomer is closed, as
		// Dropbear does; the flood's connections idle out within a second,
		// so a real client retrying gets its answer.
		ssh := need(t, "ssh")
		var out string
		for range 10 {
			out, _ = run(t, 30*time.Second, ssh, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
				"-o", "UserKnownHostsFile=/dev/null", "-p", fmt.Sprint(fakePorts["22tcp"]), "x@"+a.Host, "true")
			if strings.Contains(out, "Permission denied") {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !strings.Contains(out, "Permission denied") {
			t.Errorf("a client during the flood:\n%s", out)
		}
		wg.Wait()
		limited := a.find(t, 1, func(e event.Event) bool {
			return e.Service == "22tcp" && e.Action == event.Disconnect && e.Reason == event.ReasonLimit
		})
		if len(limited) == 0 {
			t.Error("no flood connection was closed at the handshake limit")
		}
	})
}

// TestNewServicesCredentialsOff: with credentials not collected, the
// passwords given to the FTP, SMTP and SSH fakes are nowhere: not in the
// database file's bytes, not in the agent's debug log.
func TestNewServicesCredentialsOff(t *testing.T) {
	curl, swaks, sshpass, ssh := need(t, "curl"), need(t, "swaks"), need(t, "sshpass"), need(t, "ssh")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "0"})
	const secret = "Zq7-never-stored"
	run(t, 30*time.Second, curl, "-sS", "ftp://ftpuser:"+secret+"@"+a.Addr("21tcp")+"/")
	host, port, _ := net.SplitHostPort(a.Addr("25tcp"))
	run(t, 30*time.Second, swaks, "--server", host, "--port", port, "--auth", "PLAIN", "--auth-user", "smtpuser",
		"--auth-password", secret, "--quit-after", "AUTH")
	_, sport, _ := net.SplitHostPort(a.Addr("22tcp"))
	run(t, 30*time.Second, sshpass, "-p", secret, ssh, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1",
		"-p", sport, "sshuser@"+host, "true")
	for _, key := range []string{"21tcp", "25tcp", "22tcp"} {
		for _, e := range a.find(t, 1, logins(key)) {
			if e.Username != "" || e.Password != "" {
				t.Errorf("%s: credentials stored: %+v", key, e)
			}
		}
	}
	a.Stop()
	files, _ := filepath.Glob(a.DB + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the password", f)
		}
	}
	if strings.Contains(a.stderr.String(), secret) {
		t.Error("the agent's log holds the password")
	}
}

// TestSSHHandshakesSetting: limits.ssh_handshakes flows from the UCI file
// to the SSH fake, and a reload's new value holds for the next connection.
func TestSSHHandshakesSetting(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.ssh_handshakes": "2", "limits.max_per_ip": "64"})
	dial := func() (net.Conn, bool) {
		c, err := net.Dial("tcp", a.Addr("22tcp"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.Read(make([]byte, 8))
		return c, n > 0 // served: it got the version line
	}
	for i := range 2 {
		if _, ok := dial(); !ok {
			t.Fatalf("connection %d of 2 was not served", i+1)
		}
	}
	if _, ok := dial(); ok {
		t.Error("a third handshake was served with limits.ssh_handshakes 2")
	}
	a.UCI("set", "ucollect.limits.ssh_handshakes=3")
	a.UCI("commit", "ucollect")
	a.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "a third handshake served after the reload", func() (bool, string) {
		_, ok := dial()
		return ok, "closed at once"
	})
	if _, ok := dial(); ok {
		t.Error("a fourth handshake was served with limits.ssh_handshakes 3")
	}
}
