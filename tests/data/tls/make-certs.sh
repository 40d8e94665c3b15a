#!/usr/bin/env bash
# Regenerates the TLS test fixtures in this directory (committed; valid 100 years,
# except expired.pem). Needs openssl >= 3.0. Usage: ./make-certs.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.pem ./*.key ./*.srl ./*.cnf
days=36500
san="subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
cat > ca.cnf <<CNF
[v3_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[v3_server]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
$san
[v3_client]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
CNF

ca() { # name subject
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days $days -out "$1.pem" -config ca.cnf -extensions v3_ca
}
sign() { # key subject issuer extensions out
  openssl req -new -key "$1" -subj "/CN=$2" -out tmp.csr
  openssl x509 -req -in tmp.csr -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days $days \
    -extfile ca.cnf -extensions "$4" -out "$5"
  rm -f tmp.csr
}

ca ca "pysyslog test CA"
ca other-ca "some other CA"

# An intermediate CA signed by the root.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out inter.key
sign inter.key "pysyslog test intermediate" ca v3_ca inter.pem

# RSA server key, PKCS#8 (openssl 3's default) and the same key as PKCS#1.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-rsa.key
openssl rsa -in server-rsa.key -traditional -out server-rsa-pkcs1.key
sign server-rsa.key localhost ca v3_server server-rsa.pem

# ECDSA server key in SEC1 form ("EC PRIVATE KEY").
openssl ecparam -name prime256v1 -genkey -noout -out server-ec.key
sign server-ec.key localhost ca v3_server server-ec.pem

# Ed25519 server key.
openssl genpkey -algorithm ED25519 -out server-ed25519.key
sign server-ed25519.key localhost ca v3_server server-ed25519.pem

# A server certificate issued by the intermediate: the chain file holds both.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-chain.key
sign server-chain.key localhost inter v3_server server-leaf.pem
cat server-leaf.pem inter.pem > server-chain.pem
rm server-leaf.pem

# One file holding the key and the certificate.
cat server-rsa.key server-rsa.pem > combined.pem

# Client certificates: one from our CA, one from another CA.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key
sign client.key "client one" ca v3_client client.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other-client.key
sign other-client.key "client two" other-ca v3_client other-client.pem

# An expired self-signed certificate (2020-2021), through `openssl ca`.
mkdir -p expired-ca && touch expired-ca/index.txt && echo 01 > expired-ca/serial
cat > expired.cnf <<CNF
[ca]
default_ca=x
[x]
dir=expired-ca
database=expired-ca/index.txt
serial=expired-ca/serial
new_certs_dir=expired-ca
default_md=sha256
policy=p
copy_extensions=copy
[p]
commonName=supplied
CNF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -addext "$san" -out tmp.csr
openssl ca -batch -config expired.cnf -selfsign -keyfile expired.key -in tmp.csr \
  -startdate 20200101000000Z -enddate 20210101000000Z -notext -out expired.pem 2>/dev/null
rm -rf expired-ca expired.cnf tmp.csr ./*.srl ca.cnf
ls
