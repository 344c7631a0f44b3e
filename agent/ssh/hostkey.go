package ssh

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	xssh "golang.org/x/crypto/ssh"

	"github.com/minipot/minipot/internal/atomicfile"
)

// The host key files, in OpenSSH's format, named as OpenSSH names them.
// Dropbear on OpenWrt offers an Ed25519 and an RSA key; bots built on old
// libssh2 know RSA only.
var hostKeyFiles = []struct {
	name string
	gen  func() (crypto.Signer, error)
}{
	{"ssh_host_ed25519_key", func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"ssh_host_rsa_key", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
}

// LoadHostKeys reads the host keys from dir, generating and writing each
// one that is missing: a package never ships them, so every router has its
// own, made on the first start and kept from then on (a key that changed at
// every start would give the fake away).
func LoadHostKeys(dir string) ([]xssh.Signer, error) {
	var out []xssh.Signer
	for _, f := range hostKeyFiles {
		path := filepath.Join(dir, f.name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			if data, err = generate(path, f.gen); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, fmt.Errorf("ssh host key: %w", err)
		}
		signer, err := xssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("ssh host key %s: %w", path, err)
		}
		out = append(out, signer)
	}
	return out, nil
}

// generate makes a key and writes it atomically, readable by its owner
// only.
func generate(path string, gen func() (crypto.Signer, error)) ([]byte, error) {
	key, err := gen()
	if err != nil {
		return nil, fmt.Errorf("ssh host key: generate: %w", err)
	}
	block, err := xssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, fmt.Errorf("ssh host key: encode: %w", err)
	}
	data := pem.EncodeToMemory(block)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	return data, nil
}
