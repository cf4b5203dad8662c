#!/usr/bin/env bash
# Starts the Kubernetes test tier's control plane on 127.0.0.1: etcd and kube-apiserver (built by build.sh)
# with self-generated certificates, a static bearer-token file, RBAC and no controllers.
# Usage: up.sh STATE_DIR. Prints the path of an env file to source: K8S_SERVER, KUBECONFIG (cluster admin),
# K8S_CA, K8S_STATE, K8S_TOKEN_FILE and the pids. down.sh STATE_DIR stops everything.
# Env: K8S_APISERVER_PORT (6443), K8S_ETCD_PORT (2379), plus build.sh's K8S_VERSION / K8S_CACHE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: up.sh STATE_DIR}
api_port=${K8S_APISERVER_PORT:-6443}
etcd_port=${K8S_ETCD_PORT:-2379}
started=$(date +%s.%N)

bin=$("$here/build.sh" etcd kube-apiserver podresources-stub)
built=$(date +%s.%N)
"$here/down.sh" "$state" >/dev/null 2>&1 || true
rm -rf "$state"; mkdir -p "$state/pki" "$state/etcd"
cd "$state/pki"

# A CA, the apiserver's serving certificate, an admin client certificate (kubectl-style client-cert
# kubeconfigs are tested too) and the service-account signing key.
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=multiplane-test-ca" \
  -keyout ca.key -out ca.crt
cat > server.ext <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1
extendedKeyUsage=serverAuth
EXT
openssl_quiet req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout server.key -out server.csr
openssl_quiet x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out server.crt
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl_quiet req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=cert-admin" -keyout admin.key -out admin.csr
openssl_quiet x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile client.ext -out admin.crt
openssl_quiet genrsa -out sa.key 2048
openssl_quiet rsa -in sa.key -pubout -out sa.pub

# Static tokens: the cluster admin, and a user with no rights at all (for 403 tests).
admin_token=$(openssl rand -hex 16)
cat > "$state/tokens.csv" <<TOK
$admin_token,admin,uid-admin,"system:masters"
$(openssl rand -hex 16),nobody,uid-nobody,""
TOK

"$bin/etcd" --data-dir "$state/etcd" --name tier \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
  --initial-cluster "tier=http://127.0.0.1:$((etcd_port + 1))" \
  --unsafe-no-fsync --log-level warn >"$state/etcd.log" 2>&1 &
echo $! > "$state/etcd.pid"

"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --cert-dir "$state/pki" --tls-cert-file "$state/pki/server.crt" --tls-private-key-file "$state/pki/server.key" \
  --client-ca-file "$state/pki/ca.crt" --token-auth-file "$state/tokens.csv" \
  --authorization-mode RBAC --allow-privileged=true \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$state/pki/sa.pub" \
  --service-account-signing-key-file "$state/pki/sa.key" --api-audiences https://kubernetes.default.svc \
  --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
  --disable-admission-plugins ServiceAccount --enable-priority-and-fairness=false \
  >"$state/kube-apiserver.log" 2>&1 &
echo $! > "$state/kube-apiserver.pid"

server=https://127.0.0.1:$api_port
ready=""
for _ in $(seq 1 600); do
  if curl -fsS --cacert "$state/pki/ca.crt" -H "Authorization: Bearer $admin_token" "$server/readyz" >/dev/null 2>&1; then
    ready=yes; break
  fi
  kill -0 "$(cat "$state/kube-apiserver.pid")" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "k8s tier: kube-apiserver did not become ready; last lines of its log:" >&2
  tail -20 "$state/kube-apiserver.log" >&2; tail -5 "$state/etcd.log" >&2
  exit 1
fi

cat > "$state/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tier
  cluster: {server: "$server", certificate-authority: "$state/pki/ca.crt"}
users:
- name: admin
  user: {token: "$admin_token"}
contexts:
- name: tier
  context: {cluster: tier, user: admin}
current-context: tier
KC
cat > "$state/env" <<ENV
K8S_SERVER=$server
KUBECONFIG=$state/admin.kubeconfig
K8S_CA=$state/pki/ca.crt
K8S_STATE=$state
K8S_TOKEN_FILE=$state/tokens.csv
K8S_BIN=$bin
export K8S_SERVER KUBECONFIG K8S_CA K8S_STATE K8S_TOKEN_FILE K8S_BIN
ENV
now=$(date +%s.%N)
awk -v s="$started" -v b="$built" -v n="$now" -v url="$server" 'BEGIN {
  printf "k8s tier: binaries ready in %.1fs, etcd + kube-apiserver ready in %.1fs (%s)\n", b - s, n - b, url }' >&2
echo "$state/env"
