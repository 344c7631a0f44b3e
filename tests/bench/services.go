package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/minipot/minipot/agent/ssh"
)

// newServices measures the FTP, SMTP and SSH fakes: login attempts per
// second from 50 clients (one attempt per connection, as a brute-forcing
// bot that hangs up after the refusal), the agent's and the clients' CPU
// per attempt, and memory per idle connection. The SSH clients do the same
// key exchange as the fake, so their CPU per attempt is the yardstick for
// the fake's.
func newServices(a *agentProc, bin string, dur time.Duration, idle int) error {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00root\x00xc3511"))
	for _, s := range []struct {
		label, port string
		try         func(c net.Conn) error
	}{
		{"FTP login attempts, 50 clients:", "1390", func(c net.Conn) error {
			return converse(c, "220 ", "USER root\r\nPASS xc3511\r\n", "530 Login incorrect.")
		}},
		{"SMTP AUTH attempts, 50 clients:", "1394", func(c net.Conn) error {
			return converse(c, "220 ", "EHLO bot\r\nAUTH PLAIN "+plain+"\r\n", "535 ")
		}},
		{"SSH password attempts, 50 clients:", "1391", sshAttempt},
	} {
		if err := clientLoad(s.label, net.JoinHostPort(host, s.port), a.cpu, dur, s.try); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		name, port, greeting string
		n                    int
	}{
		// The SSH fake serves at most ssh.DefaultHandshakes connections at once,
		// so that is all an idle SSH flood can hold.
		{"FTP", "1390", "220 ", idle}, {"SMTP", "1394", "220 ", idle}, {"SSH", "1391", "SSH-2.0-", min(idle, ssh.DefaultHandshakes)},
	} {
		if err := idleService(bin, s.name, s.port, s.greeting, s.n); err != nil {
			return err
		}
	}
	return nil
}

// idleHost is where the agents of the idle measurements listen.
const idleHost = "127.0.0.202"

// converse reads the greeting, sends the attempt and reads until the
// refusal.
func converse(c net.Conn, greeting, send, refusal string) error {
	r := bufio.NewReaderSize(c, 512)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, greeting) {
		return fmt.Errorf("greeting %q: %v", line, err)
	}
	if _, err := io.WriteString(c, send); err != nil {
		return err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("no %q: %v", refusal, err)
		}
		if strings.HasPrefix(line, refusal) {
			return nil
		}
	}
}

var sshClient = &xssh.ClientConfig{
	User:            "root",
	Auth:            []xssh.AuthMethod{xssh.Password("xc3511")},
	HostKeyCallback: xssh.InsecureIgnoreHostKey(),
	ClientVersion:   "SSH-2.0-libssh2_1.9.0",
}

// errAtLimit is a connection the fake closed before its banner: more than
// ssh.DefaultHandshakes were in their handshake.
var errAtLimit = errors.New("closed at the handshake limit")

func sshAttempt(c net.Conn) error {
	_, _, _, err := xssh.NewClientConn(c, "", sshClient)
	if err == nil {
		return errors.New("a login succeeded")
	}
	if strings.Contains(err.Error(), "reset by peer") || strings.HasSuffix(err.Error(), "EOF") {
		return errAtLimit
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		return err
	}
	return nil
}

// clientLoad runs 50 clients against addr for dur, each from an address of
// its own doing try on a new connection in a loop, and reports the rate and
// the CPU per attempt.
func clientLoad(label, addr string, cpu func() time.Duration, dur time.Duration, try func(net.Conn) error) error {
	const workers = 50
	var ok, failed, limited atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	server0, self0 := cpu(), selfCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each client from an address of its own, as a botnet's: from
			// one, the SSH fake serves 5 at once (Dropbear's
			// MAX_UNAUTH_PER_IP), which would measure that limit instead.
			d := net.Dialer{KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 4, 0, byte(1+w))}}
			for ctx.Err() == nil {
				c, err := d.Dial("tcp", addr)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					err = try(c)
					c.Close()
				}
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, errAtLimit):
					limited.Add(1)
				case ctx.Err() == nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	n := ok.Load()
	fmt.Printf("%-37s%.0f/s (%d attempts, %d failed)\n", label, float64(n)/el, n, failed.Load())
	if l := limited.Load(); l > 0 {
		fmt.Printf("  closed at the %d-handshake limit:  %d connections\n", ssh.DefaultHandshakes, l)
	}
	fmt.Printf("  CPU per attempt:                   agent %s, clients %s\n", perOp(cpu()-server0, n), perOp(selfCPU()-self0, n))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("  first failure: %v\n", e)
	}
	return nil
}

// idleService holds n connections to a service that have read its greeting
// and sent nothing, from many source addresses, and reports what each
// costs an agent of its own: in the agent of the load runs, memory freed by
// them would be reused and hide the cost.
func idleService(bin, name, port, greeting string, n int) error {
	a, err := startAgentOn(bin, idleHost)
	if err != nil {
		return err
	}
	defer a.stop()
	time.Sleep(time.Second)
	rss0 := a.rssKB()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, len(greeting))
	for i := range n {
		src := &net.TCPAddr{IP: net.IPv4(127, 2, byte(i/250), byte(1+i%250))}
		d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", net.JoinHostPort(idleHost, port))
		if err != nil {
			return fmt.Errorf("idle %s connection %d: %w", name, i, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != greeting {
			return fmt.Errorf("idle %s connection %d greeting %q: %v", name, i, buf, err)
		}
	}
	time.Sleep(2 * time.Second)
	rss := a.rssKB()
	fmt.Printf("RSS with %d idle %s connections:%s%d KB more (%.1f KB per connection)\n",
		n, name, strings.Repeat(" ", max(1, 6-len(name))), rss-rss0, float64(rss-rss0)/float64(n))
	return nil
}
