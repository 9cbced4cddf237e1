package etcdstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// TestTLS runs a member that requires client certificates signed by its
// CA and checks which clients it accepts: a wrong CA on the client, a
// missing client certificate and one from another CA are refused at once
// with ErrTLS, naming the cause.
func TestTLS(t *testing.T) {
	ca, other := etcdtest.NewCA(t, "diktyo-test"), etcdtest.NewCA(t, "other")
	srvCert, srvKey := ca.Issue(t, "server")
	cliCert, cliKey := ca.Issue(t, "client")
	otherCert, otherKey := other.Issue(t, "intruder")
	m := etcdtest.Start(t, etcdtest.Config{TLS: &etcdtest.ServerTLS{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.File}})

	const timeout = 5 * time.Second
	tests := []struct {
		name  string
		files etcdconf.TLSFiles
		want  string // "" = accepted; else part of the error
	}{
		{"right CA and client certificate", etcdconf.TLSFiles{Cert: cliCert, Key: cliKey, CA: ca.File}, ""},
		{"wrong CA", etcdconf.TLSFiles{Cert: cliCert, Key: cliKey, CA: other.File}, "certificate signed by unknown authority"},
		{"no client certificate", etcdconf.TLSFiles{CA: ca.File}, "certificate required"},
		// Go's TLS client offers only a certificate from a CA the server
		// names, so the member sees none.
		{"client certificate of another CA", etcdconf.TLSFiles{Cert: otherCert, Key: otherKey, CA: ca.File}, "certificate required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := tc.files.Config()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			s, err := Open(context.Background(), Options{Options: etcdconf.Options{Endpoints: []string{m.Endpoint}, Prefix: "tls", TLS: conf, Timeout: timeout}})
			took := time.Since(start)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open = %v", err)
				}
				defer s.Close()
				if err := s.Update(context.Background(), func(tx ipam.StoreTx) error { return tx.Put([]byte("k"), nil) }); err != nil {
					t.Errorf("Update over TLS: %v", err)
				}
				return
			}
			t.Logf("refused after %v: %v", took.Round(time.Millisecond), err)
			if !errors.Is(err, ErrTLS) || !contains(err, tc.want) {
				t.Errorf("Open = %v, want ErrTLS mentioning %q", err, tc.want)
			}
			if took > timeout/2 {
				t.Errorf("refused after %v: should fail at once, not wait for the %v deadline", took, timeout)
			}
		})
	}
	t.Run("plain client", func(t *testing.T) {
		_, err := Open(context.Background(), Options{Options: etcdconf.Options{Endpoints: []string{m.Endpoint}, Prefix: "tls", Timeout: time.Second}})
		if err == nil {
			t.Fatal("plain-text client accepted by a TLS member")
		}
		t.Logf("plain client: %v", err)
	})
}
