package export

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"
)

// This file is a minimal MQTT 3.1.1 client: CONNECT, PUBLISH with QoS 1,
// PUBACK, PINGREQ, DISCONNECT, and nothing else. The exporter never
// subscribes and keeps one batch in flight, so it needs no session store,
// no router of incoming messages and no goroutines; docs/export.md says why
// this beats a general client on a router's flash.

// MQTT 3.1.1 packet types (high nibble of the first byte).
const (
	pktConnect    = 1
	pktConnack    = 2
	pktPublish    = 3
	pktPuback     = 4
	pktPingreq    = 12
	pktPingresp   = 13
	pktDisconnect = 14
)

// maxIncoming bounds a packet from the broker: the client only ever
// expects CONNACK, PUBACK and PINGRESP (2 bytes of body at most); a broker
// sending more is broken or hostile, and is cut off.
const maxIncoming = 64

// ackTimeout bounds the wait for CONNACK and for a batch's PUBACKs.
const ackTimeout = 30 * time.Second

// keepAlive is announced in CONNECT; the exporter pings well within it.
const keepAlive = 60 * time.Second

// MQTTConfig is what Dial needs to reach a broker.
type MQTTConfig struct {
	Broker   string      // mqtts://host[:port] or mqtt://host[:port]
	TLS      *tls.Config // for mqtts; ServerName is set from Broker if empty
	ClientID string
	Username string // "" : none
	Password string
}

// mqttConn is one connection to a broker.
type mqttConn struct {
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	nextID uint16
	stop   func() bool // undoes the AfterFunc that closes conn when ctx ends
	// wire counts the bytes written, for the benchmark's bytes per event.
	wire int64
}

// connackErrors are CONNACK return codes 1-5 in the words of the spec.
var connackErrors = [...]string{
	1: "the broker does not speak MQTT 3.1.1",
	2: "the broker rejected the client id",
	3: "the broker is unavailable",
	4: "the broker refused the username or password",
	5: "the broker did not authorize this client (wrong username or password, or no access)",
}

// dialMQTT connects, sends CONNECT with a clean session and waits for
// CONNACK.
func dialMQTT(ctx context.Context, cfg MQTTConfig) (*mqttConn, error) {
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("broker URL %q: not mqtts://host:port", cfg.Broker)
	}
	port := u.Port()
	var conn net.Conn
	d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: -1}
	switch u.Scheme {
	case "mqtts":
		if port == "" {
			port = "8883"
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLS != nil {
			tc = cfg.TLS.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		td := tls.Dialer{NetDialer: &d, Config: tc}
		conn, err = td.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	case "mqtt":
		if port == "" {
			port = "1883"
		}
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	default:
		return nil, fmt.Errorf("broker URL %q: scheme must be mqtts", cfg.Broker)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to broker %s: %w", u.Host, err)
	}
	c := &mqttConn{conn: conn, r: bufio.NewReaderSize(conn, 256), w: bufio.NewWriterSize(conn, 16<<10)}
	// Reads wait on deadlines; the end of ctx (the exporter stopping)
	// must not wait for them.
	c.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if err := c.connect(ctx, cfg); err != nil {
		c.stop()
		conn.Close()
		return nil, fmt.Errorf("broker %s: %w", u.Host, err)
	}
	return c, nil
}

func (c *mqttConn) connect(ctx context.Context, cfg MQTTConfig) error {
	var body []byte
	body = appendString(body, "MQTT")
	flags := byte(0x02) // clean session: the cursor, not the broker, keeps state
	if cfg.Username != "" {
		flags |= 0x80
		if cfg.Password != "" {
			flags |= 0x40
		}
	}
	body = append(body, 4, flags, byte(keepAlive/time.Second>>8), byte(keepAlive/time.Second))
	body = appendString(body, cfg.ClientID)
	if cfg.Username != "" {
		body = appendString(body, cfg.Username)
		if cfg.Password != "" {
			body = appendString(body, cfg.Password)
		}
	}
	if err := c.write(pktConnect<<4, body); err != nil {
		return err
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	typ, b, err := c.read(ctx)
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if typ>>4 != pktConnack || len(b) != 2 {
		return fmt.Errorf("expected CONNACK, got packet type %d", typ>>4)
	}
	if code := b[1]; code != 0 {
		if int(code) < len(connackErrors) {
			return errors.New(connackErrors[code])
		}
		return fmt.Errorf("the broker refused the connection (code %d)", code)
	}
	return nil
}

// Message is one PUBLISH.
type Message struct {
	Topic   string
	Payload []byte
}

// publish sends every message with QoS 1 and returns once the broker has
// acknowledged each one; any failure leaves the connection unusable, and
// the caller sends the whole batch again on a new one.
func (c *mqttConn) publish(ctx context.Context, msgs []Message) error {
	pending := make(map[uint16]bool, len(msgs))
	for _, m := range msgs {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		body := appendString(make([]byte, 0, 4+len(m.Topic)+len(m.Payload)), m.Topic)
		body = append(body, byte(c.nextID>>8), byte(c.nextID))
		body = append(body, m.Payload...)
		if err := c.write(pktPublish<<4|0x02, body); err != nil {
			return err
		}
		pending[c.nextID] = true
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	for len(pending) > 0 {
		typ, b, err := c.read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for PUBACK (%d of %d missing): %w", len(pending), len(msgs), err)
		}
		switch typ >> 4 {
		case pktPuback:
			if len(b) != 2 {
				return errors.New("malformed PUBACK")
			}
			delete(pending, binary.BigEndian.Uint16(b))
		case pktPingresp:
		default:
			return fmt.Errorf("unexpected packet type %d from the broker", typ>>4)
		}
	}
	return nil
}

// ping sends PINGREQ and waits for PINGRESP.
func (c *mqttConn) ping(ctx context.Context) error {
	if err := c.write(pktPingreq<<4, nil); err != nil {
		return err
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	typ, _, err := c.read(ctx)
	if err != nil {
		return fmt.Errorf("waiting for PINGRESP: %w", err)
	}
	if typ>>4 != pktPingresp {
		return fmt.Errorf("expected PINGRESP, got packet type %d", typ>>4)
	}
	return nil
}

// close says DISCONNECT (so the broker drops no will) and closes.
func (c *mqttConn) close() error {
	c.stop()
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if c.write(pktDisconnect<<4, nil) == nil {
		_ = c.w.Flush()
	}
	return c.conn.Close()
}

func (c *mqttConn) write(first byte, body []byte) error {
	var hdr [5]byte
	hdr[0] = first
	n := 1 + putLength(hdr[1:], len(body))
	if _, err := c.w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("send to broker: %w", err)
	}
	if _, err := c.w.Write(body); err != nil {
		return fmt.Errorf("send to broker: %w", err)
	}
	c.wire += int64(n + len(body))
	return nil
}

func (c *mqttConn) flush(ctx context.Context) error {
	_ = c.conn.SetWriteDeadline(deadline(ctx))
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send to broker: %w", err)
	}
	return nil
}

func (c *mqttConn) read(ctx context.Context) (byte, []byte, error) {
	_ = c.conn.SetReadDeadline(deadline(ctx))
	return readPacket(c.r, maxIncoming)
}

func deadline(ctx context.Context) time.Time {
	d := time.Now().Add(ackTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// readPacket reads one MQTT packet: its first byte and a body of at most
// limit bytes.
func readPacket(r io.ByteReader, limit int) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errors.New("malformed remaining length")
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult <<= 7
	}
	if n > limit {
		return 0, nil, fmt.Errorf("packet of %d bytes from the broker (at most %d expected)", n, limit)
	}
	body := make([]byte, n)
	for i := range body {
		if body[i], err = r.ReadByte(); err != nil {
			return 0, nil, err
		}
	}
	return first, body, nil
}

// putLength writes MQTT's variable-length remaining length; n is at most
// 268,435,455 (the payloads here are a few KiB).
func putLength(b []byte, n int) int {
	i := 0
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b[i] = d
		i++
		if n == 0 {
			return i
		}
	}
}

func appendString(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}
