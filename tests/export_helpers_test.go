package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/export"
)

// testPKI writes a CA and a server certificate for 127.0.0.1 signed by
// it into dir: ca.pem, server.pem, server.key.
func testPKI(t testing.TB, dir, name string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for file, block := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		// Readable by the broker, which drops root for its own user.
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// broker is Debian's mosquitto on a loopback port with TLS and a password
// file, persistent (as a collector runs it), restartable on the same port.
type broker struct {
	t    testing.TB
	Dir  string
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *syncBuffer
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBroker generates the certificates and the password file (users
// from users: name → password) and starts mosquitto.
func startBroker(t testing.TB, users map[string]string) *broker {
	t.Helper()
	need(t, "mosquitto")
	need(t, "mosquitto_passwd")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	testPKI(t, dir, "broker")
	pw := filepath.Join(dir, "passwd")
	for u, p := range users {
		args := []string{"-b", pw, u, p}
		if _, err := os.Stat(pw); err != nil {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
	}
	os.Chmod(pw, 0o644)
	b := &broker{t: t, Dir: dir, Port: freePort(t), log: &syncBuffer{}}
	conf := fmt.Sprintf(`per_listener_settings false
allow_anonymous false
password_file %[1]s/passwd
persistence true
persistence_location %[1]s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages %[3]d
log_dest stderr
listener %[2]d 127.0.0.1
cafile %[1]s/ca.pem
certfile %[1]s/server.pem
keyfile %[1]s/server.key
`, dir, b.Port, brokerInflight)
	if os.Geteuid() == 0 {
		conf = "user root\n" + conf
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(func() {
		b.Stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", tail(b.log.String(), 3000))
		}
	})
	return b
}

// Start runs mosquitto and waits until its port accepts connections.
func (b *broker) Start() {
	b.t.Helper()
	b.cmd = exec.Command("mosquitto", "-c", filepath.Join(b.Dir, "mosquitto.conf"))
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(b.cmd, b.done)
	eventually(b.t, 10*time.Second, "mosquitto listening", func() (bool, string) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port))
		if err != nil {
			return false, err.Error() + "\n" + b.log.String()
		}
		c.Close()
		return true, ""
	})
}

// Stop ends mosquitto with sig and waits.
func (b *broker) Stop(sig syscall.Signal) {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

func (b *broker) URL() string { return fmt.Sprintf("mqtts://127.0.0.1:%d", b.Port) }

// brokerInflight bounds the messages mosquitto sends a subscriber before
// its acknowledgements: after the broker is killed, it may deliver those
// again from its saved state, duplicates that are the broker's own.
const brokerInflight = 20

// subscriber is mosquitto_sub with a persistent session and QoS 1,
// writing each payload on a line of a file, as a collector would.
type subscriber struct {
	out, errb *syncBuffer
	args      []string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startSubscriber(t *testing.T, b *broker, user, pass, topic string) *subscriber {
	t.Helper()
	need(t, "mosquitto_sub")
	s := &subscriber{out: &syncBuffer{}, errb: &syncBuffer{}}
	s.args = []string{"-h", "127.0.0.1", "-p", fmt.Sprint(b.Port), "--cafile", filepath.Join(b.Dir, "ca.pem"),
		"-u", user, "-P", pass, "-i", fmt.Sprintf("collector-%d", os.Getpid()), "-c", "-q", "1", "-t", topic}
	saves := strings.Count(b.log.String(), "Saving in-memory database")
	s.start(t)
	// The broker keeps the subscription across a kill only once it has
	// saved it (every second).
	eventually(t, 10*time.Second, "the subscription saved", func() (bool, string) {
		l := b.log.String()
		return strings.Contains(l, "as collector-") && strings.Count(l, "Saving in-memory database") >= saves+2, ""
	})
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("mosquitto_sub stderr:\n%s", tail(s.errb.String(), 2000))
		}
	})
	return s
}

func (s *subscriber) start(t *testing.T) {
	s.cmd = exec.Command("mosquitto_sub", s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
}

func (s *subscriber) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// Reconnect starts mosquitto_sub again with the same persistent session,
// as a collector's supervisor would: it exits when the broker goes away.
func (s *subscriber) Reconnect(t *testing.T) {
	s.stop()
	s.start(t)
}

// Records parses what was received so far.
func (s *subscriber) Records(t *testing.T) []export.Record {
	t.Helper()
	var out []export.Record
	text := s.out.String()
	text = text[:strings.LastIndexByte(text, '\n')+1] // complete lines only
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var r export.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("received a message that is not a record: %v: %q", err, line)
		}
		out = append(out, r)
	}
	return out
}

// exporterProc is a running `minipot export` on an agent's config dir.
type exporterProc struct {
	t      *testing.T
	RunDir string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

func startExporter(t *testing.T, confDir string) *exporterProc {
	t.Helper()
	// The agent's run folder: the API reads both reports there.
	x := &exporterProc{t: t, RunDir: filepath.Join(confDir, "run"), stderr: &syncBuffer{}, done: make(chan struct{})}
	os.MkdirAll(x.RunDir, 0o755)
	chownNobody(t, x.RunDir)
	x.cmd = exec.Command(minipotBin, "export", "-c", confDir, "--run-dir", x.RunDir)
	x.cmd.Stderr = x.stderr
	if os.Geteuid() == 0 {
		x.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := x.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { x.cmd.Wait(); close(x.done) }()
	t.Cleanup(func() {
		x.Stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("exporter stderr:\n%s", tail(x.stderr.String(), 3000))
		}
	})
	return x
}

func (x *exporterProc) Stop(sig syscall.Signal) {
	select {
	case <-x.done:
		return
	default:
	}
	x.cmd.Process.Signal(sig)
	select {
	case <-x.done:
	case <-time.After(10 * time.Second):
		x.cmd.Process.Kill()
		<-x.done
		x.t.Errorf("exporter did not stop on %v", sig)
	}
}

// Status reads the exporter's status file.
func (x *exporterProc) Status() (export.Status, error) { return export.ReadStatus(x.RunDir) }
