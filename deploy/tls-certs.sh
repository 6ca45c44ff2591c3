#!/usr/bin/env bash
# Generates a throwaway certificate authority and one server certificate signed by it,
# for the TLS variant of the compose stack (deploy/compose.tls.yaml), into deploy/tls/
# (git-ignored): ca.pem, ca-key.pem, server.pem, server-key.pem. ECDSA P-256, valid for
# 30 days, for the names 127.0.0.1, ::1, localhost, nats and redis.
#
#   deploy/tls-certs.sh            # writes deploy/tls/ (refuses to overwrite; FORCE=1 does)
#
# These are development certificates: the private keys are world-readable so the servers'
# own users inside the containers can read them. Production gets certificates from its
# own CA and keeps keys readable by the server only.
set -euo pipefail

dir="$(cd "$(dirname "$0")" && pwd)/tls"
if [[ -e "$dir/server.pem" && "${FORCE:-0}" != 1 ]]; then
  echo "tls-certs: $dir/server.pem exists; FORCE=1 $0 to replace" >&2
  exit 1
fi
mkdir -p "$dir"
cd "$dir"
days=30

openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -subj "/CN=casebook dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem

openssl ecparam -name prime256v1 -genkey -noout -out server-key.pem
openssl req -new -key server-key.pem -subj "/CN=localhost" -out server.csr
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:nats,DNS:redis
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
  -sha256 -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 0644 server-key.pem
chmod 0600 ca-key.pem
openssl verify -CAfile ca.pem server.pem
echo "tls-certs: wrote $dir (ca.pem is what clients trust)"
