// Package gitserve serves the bare git repositories of a folder over git's
// smart HTTP protocol, as a Git host does for Argo CD: git http-backend
// behind net/http/cgi, over TLS on 127.0.0.1, accepting only HTTP basic
// authentication with a token as the password (any user name, as GitHub's
// x-access-token). It is the smp-gitops remote of smpctl demo --engines
// kubernetes: Argo CD's repository server clones from it like from GitHub.
//
// The certificate is made fresh for each server, for 127.0.0.1 only; its
// CA file is there for clients that verify it (git -c http.sslCAInfo=…).
package gitserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi" // #nosec G504 -- runs git http-backend; httpoxy affected Go < 1.6.3 only
	"os/exec"
	"time"
)

// Server is a running git server.
type Server struct {
	// URL is https://127.0.0.1:PORT; a repository root/NAME.git is URL/NAME.git.
	URL string
	// CA is the PEM of the self-signed certificate the server presents.
	CA []byte

	srv *http.Server
}

// Start serves the bare repositories under root (root/NAME.git) on a free
// 127.0.0.1 port to clients that give token. It returns once the server
// listens; Close stops it.
func Start(root, token string) (*Server, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("serve git: git is not on PATH: %w", err)
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("serve git: %w", err)
	}
	backend := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		// REMOTE_USER: http-backend refuses pushes from anonymous users,
		// and the token is the only way in.
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=smp"},
	}
	want := []byte(token)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, password, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(password), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="smp-gitops"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve git: %w", err)
	}
	s := &Server{
		URL: "https://" + ln.Addr().String(),
		CA:  caPEM,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		},
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Close stops the server and the requests in flight.
func (s *Server) Close() error {
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop the git server: %w", err)
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smp-gitops on 127.0.0.1"},
		NotBefore: now, NotAfter: now.Add(10 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
