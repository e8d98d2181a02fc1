#!/usr/bin/env bash
# The demo on a real cluster: Juju 3.6 + strictly confined microk8s on Ubuntu 24.04 (amd64),
# from a clone of this repository. It installs what it needs with snap (sudo), deploys both
# charms, sets labels, kills the leader's pod while the labels change, and checks that the
# labels settle: every step fails loudly if they do not.
#
#   docs/demo/microk8s-demo.sh
#
# The README's "Demo on microk8s" quotes the steps below (from a `# step` line to the next
# `# end step`) verbatim; tests/test_docs.py keeps the two equal. Environment: MODEL (the
# model and namespace, default mesh-demo), CONTROLLER (default demo; bootstrapped on
# microk8s unless it exists), KEEP_MODEL=1 to leave the model in place.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-mesh-demo}
CONTROLLER=${CONTROLLER:-demo}

# Poll until a command succeeds, at most $1 seconds (kubectl and juju answer before pods
# and hooks have caught up).
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "timed out waiting for: $*" >&2
      return 1
    fi
    sleep 5
  done
}

# The value of label $2 on object $1 (kind/name; a StatefulSet: its pod template), or "".
label() {
  local path='.metadata.labels'
  if [[ $1 == statefulset/* ]]; then path='.spec.template.metadata.labels'; fi
  kubectl get "$1" -n "$MODEL" -o json | jq -r --arg key "$2" "${path}[\$key] // \"\""
}

# Whether the template, every pod of mesh-consumer and its Service carry $1=$2 ("" = absent).
everywhere() {
  local object
  for object in statefulset/mesh-consumer service/mesh-consumer \
    $(kubectl get pods -n "$MODEL" -l app.kubernetes.io/name=mesh-consumer -o name); do
    [ "$(label "$object" "$1")" = "$2" ] || return 1
  done
}

# Whether the StatefulSet's pods all run its current template (the roll is over).
rolled_out() {
  kubectl rollout status statefulset/mesh-consumer -n "$MODEL" --timeout=10s >/dev/null 2>&1
}

# step 1: install microk8s (strictly confined, so Juju finds it without `juju add-k8s`), Juju, charmcraft, LXD, uv and jq
sudo snap install microk8s --channel=1.32-strict/stable
sudo snap install juju --channel=3.6/stable
sudo snap install charmcraft --classic
sudo snap install lxd
sudo snap install astral-uv --classic
sudo snap install jq
sudo lxd waitready
sudo lxc storage show default >/dev/null 2>&1 || sudo lxd init --auto
sudo usermod -a -G snap_microk8s,lxd "$USER"
# A kubectl command that survives new shells (unlike a shell alias).
sudo snap alias microk8s.kubectl kubectl
sudo microk8s status --wait-ready
sudo microk8s enable hostpath-storage dns
# end step

# step 2: take the new groups (typing the steps: log out and in instead; the script restarts itself under them)
if ! id -nG | grep -qw snap_microk8s || ! id -nG | grep -qw lxd; then
  exec sudo --preserve-env=MODEL,CONTROLLER,KEEP_MODEL -u "$USER" "$0" "$@"
fi
# end step

# step 3: bootstrap a controller and add a model (its name is the Kubernetes namespace)
mkdir -p ~/.local/share
juju show-controller "$CONTROLLER" >/dev/null 2>&1 || juju bootstrap microk8s "$CONTROLLER"
juju add-model "$MODEL" --controller "$CONTROLLER"
# end step

# step 4: pack both charms into build/ (./tox.sh runs tox through uv)
./tox.sh -e pack
# end step

# step 5: deploy both with their OCI image resources, three consumer units so leadership can move
juju deploy ./build/beacon-stub_amd64.charm beacon-stub \
  --resource stub-image=docker.io/library/busybox:1.37.0
juju deploy ./build/mesh-consumer_amd64.charm mesh-consumer -n 3 \
  --resource web-image=docker.io/library/busybox:1.37.0
# end step

# step 6: trust the consumer (without it the leader shows "cannot manage pod labels: run juju trust mesh-consumer --scope=cluster"), then integrate
juju trust mesh-consumer --scope=cluster
juju integrate mesh-consumer:service-mesh beacon-stub:service-mesh
# end step

# step 7: set labels, wait until the template carries them and the pods have rolled, then look
juju config beacon-stub labels='{"istio.io/dataplane-mode": "ambient", "demo": "one"}'
# `juju wait-for` (gone in Juju 4: use `jubilant wait` there) returns as soon as the app is
# active, which it already is while the pods roll; so wait on Kubernetes itself.
juju wait-for application mesh-consumer --query='status=="active"' --timeout=10m
wait_until 600 everywhere demo one
kubectl rollout status statefulset/mesh-consumer -n "$MODEL" --timeout=10m
kubectl get pods -n "$MODEL" --show-labels
kubectl get statefulset mesh-consumer -n "$MODEL" \
  -o jsonpath='{.spec.template.metadata.labels}{"\n"}'
kubectl get service mesh-consumer -n "$MODEL" --show-labels
# end step

# step 8: add a label that someone else owns: the library never touches it
kubectl label service mesh-consumer -n "$MODEL" owner=ops
# end step

# step 9: delete the leader's pod while resetting the labels (the counterexample: the data changes while the leader dies)
leader=$(juju status mesh-consumer --format=json | jq -r \
  '.applications["mesh-consumer"].units | to_entries[] | select(.value.leader) | .key')
kubectl delete pod -n "$MODEL" "${leader/\//-}" --wait=false
juju config beacon-stub labels='{}'
# end step

# step 10: watch the labels settle: a leader (old or new) reconciles from the relation data and the ledger ConfigMap
wait_until 900 everywhere demo ""
wait_until 900 everywhere istio.io/dataplane-mode ""
wait_until 900 rolled_out
[ "$(label service/mesh-consumer owner)" = ops ]
kubectl get pods -n "$MODEL" -l app.kubernetes.io/name=mesh-consumer --show-labels
kubectl get service mesh-consumer -n "$MODEL" --show-labels
kubectl get configmap mesh-consumer-k8s-labels-service-mesh -n "$MODEL" -o yaml
juju status
# end step

# step 11: an action on the stub's leader overrides the config until the config changes again
juju run beacon-stub/leader set-labels labels='{"demo": "two"}'
wait_until 600 everywhere demo two
# end step

# step 12: clean up
if [ "${KEEP_MODEL:-}" != 1 ]; then
  juju destroy-model "$MODEL" --no-prompt --destroy-storage
fi
# end step

echo "demo done: labels followed the relation data through a leader kill; owner=ops survived"
