package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
)

// TLSFiles is a throwaway certificate authority and a server certificate it signed, for
// 127.0.0.1 and localhost, written as PEM files by GenerateTLS.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
	// ClientConfig trusts the CA (and nothing else).
	ClientConfig *tls.Config
}

// GenerateTLS makes an ECDSA P-256 CA and a server certificate signed by it, valid for a
// day, and writes ca.pem, server.pem and server-key.pem into dir.
func GenerateTLS(dir string) (*TLSFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: ca key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "casebook test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tls: ca certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("tls: ca certificate: %w", err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: server key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tls: server certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return nil, fmt.Errorf("tls: server key: %w", err)
	}
	f := &TLSFiles{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
	}
	for path, block := range map[string]*pem.Block{
		f.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		f.CertFile: {Type: "CERTIFICATE", Bytes: srvDER},
		f.KeyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		// Readable by the container's server whatever its user: a test key for a day.
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o644); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	f.ClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return f, nil
}

const tlsDir = "/casebook-tls"

func (f *TLSFiles) containerFiles() []testcontainers.ContainerFile {
	return []testcontainers.ContainerFile{
		{HostFilePath: f.CAFile, ContainerFilePath: tlsDir + "/ca.pem", FileMode: 0o644},
		{HostFilePath: f.CertFile, ContainerFilePath: tlsDir + "/server.pem", FileMode: 0o644},
		{HostFilePath: f.KeyFile, ContainerFilePath: tlsDir + "/server-key.pem", FileMode: 0o644},
	}
}

// StartRedisTLS starts a Redis server that accepts TLS only (no plaintext port), with the
// certificates in f copied into the container. Clients need not present a certificate.
// URL() is rediss://host:port.
func StartRedisTLS(ctx context.Context, f *TLSFiles) (*Container, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("start redis (tls): %w", err)
	}
	srv := redisServer(cfg)
	srv.name, srv.files = "rediss", f.containerFiles()
	srv.args = func(hostPort int) []string {
		args := []string{"--port", "0", "--save", "", "--appendonly", "no",
			"--tls-cert-file", tlsDir + "/server.pem", "--tls-key-file", tlsDir + "/server-key.pem",
			"--tls-ca-cert-file", tlsDir + "/ca.pem", "--tls-auth-clients", "no"}
		if hostPort == 0 {
			return append(args, "--tls-port", strconv.Itoa(srv.port), "--protected-mode", "no")
		}
		return append(args, "--tls-port", strconv.Itoa(hostPort), "--bind", "127.0.0.1")
	}
	srv.verify = func(ctx context.Context, addr string) error {
		rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, MaxRetries: -1, TLSConfig: f.ClientConfig.Clone()})
		defer rdb.Close()
		return retry(ctx, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	}
	return startServer(ctx, cfg, srv)
}

// StartNATSTLS starts a NATS server with JetStream that requires TLS, with the
// certificates in f copied into the container. URL() is tls://host:port.
func StartNATSTLS(ctx context.Context, f *TLSFiles) (*Container, error) {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("start nats (tls): %w", err)
	}
	srv := natsServer(cfg)
	plain := srv.args
	srv.name, srv.files = "tls", f.containerFiles()
	srv.args = func(hostPort int) []string {
		return append(plain(hostPort), "--tls", "--tlscert", tlsDir+"/server.pem", "--tlskey", tlsDir+"/server-key.pem")
	}
	srv.verify = func(ctx context.Context, addr string) error {
		return retry(ctx, func(ctx context.Context) error {
			nc, err := nats.Connect("tls://"+addr, nats.Secure(f.ClientConfig.Clone()), nats.Timeout(2*time.Second), nats.NoReconnect())
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			_, err = js.AccountInfo(ctx)
			return err
		})
	}
	return startServer(ctx, cfg, srv)
}
