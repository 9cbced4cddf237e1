package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of an etcds:// connection.
type TLSFiles struct {
	// Cert and Key are the client certificate and its key (etcd members
	// usually require one: --client-cert-auth).
	Cert, Key string
	// CA is the certificate of the CA that signed the members'
	// certificates; empty means the system's roots.
	CA string
}

// Config loads the files into a TLS configuration. Cert and Key go
// together: one without the other is an error.
func (f TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case f.Cert != "" && f.Key != "":
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s, key %s: %w", f.Cert, f.Key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	case f.Cert != "" || f.Key != "":
		return nil, fmt.Errorf("etcd client certificate %q and key %q: give both or neither", f.Cert, f.Key)
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", f.CA)
		}
		c.RootCAs = pool
	}
	return c, nil
}
