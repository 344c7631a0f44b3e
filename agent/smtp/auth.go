package smtp

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// Why an AUTH response could not be read; the texts are Postfix's.
var (
	errDecode  = errors.New("501 5.5.2 Cannot decode response")
	errInvalid = errors.New("535 5.7.8 Error: authentication failed: Invalid authentication mechanism")
)

// maxAuthLine bounds a decoded AUTH response: Postfix reads SASL responses
// in lines of the same limit as commands.
const maxAuthField = 256

// decode reads one base64 AUTH response. "=" stands for an empty one (RFC
// 4954), and white space around it is tolerated as Postfix does.
func decode(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 1 && b[0] == '=' {
		return nil, nil
	}
	out := make([]byte, len(b)) // decoded text is never longer, padded or not
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		// Some clients leave the padding off.
		n, err = base64.RawStdEncoding.Decode(out, bytes.TrimRight(b, "="))
		if err != nil {
			return nil, errDecode
		}
	}
	return out[:n], nil
}

// DecodePlain reads an AUTH PLAIN response (RFC 4616): base64 of
// authzid NUL authcid NUL passwd. It returns the login name (the authcid,
// or the authzid when the authcid is empty) and the password.
func DecodePlain(b64 []byte) (user, pass string, err error) {
	raw, err := decode(b64)
	if err != nil {
		return "", "", err
	}
	parts := bytes.SplitN(raw, []byte{0}, 3)
	if len(parts) != 3 {
		return "", "", errDecode
	}
	u := parts[1]
	if len(u) == 0 {
		u = parts[0]
	}
	return field(u), field(parts[2]), nil
}

// DecodeLogin reads one AUTH LOGIN response: a base64 user name or
// password.
func DecodeLogin(b64 []byte) (string, error) {
	raw, err := decode(b64)
	if err != nil {
		return "", err
	}
	return field(raw), nil
}

// field bounds a decoded credential; the event store bounds it again, this
// keeps what is held in memory small.
func field(b []byte) string {
	if len(b) > maxAuthField {
		b = b[:maxAuthField]
	}
	return string(b)
}
