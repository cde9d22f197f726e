#!/usr/bin/env bash
# A throwaway Docker Engine and an authenticated registry for the agent's Docker tests, with no internet:
#   eval "$(bash eng/test-docker.sh start /tmp/orch-docker)"   # prints the ORCHESTRATOR_TEST_* exports
#   dotnet test tests/Orchestrator.Agent.Tests
#   bash eng/test-docker.sh stop /tmp/orch-docker              # stops what start started, by PID
# The engine runs with vfs storage, no iptables and no bridge (containers get no network) on its own socket, data and
# exec roots; the image is busybox imported from a tarball; the registry listens on 127.0.0.1 with htpasswd (bcrypt)
# authentication, holds the image, and the engine is logged out again so that a pull needs the task's credentials.
# Needs root and the Debian packages docker.io, docker-registry, apache2-utils and busybox-static.
set -euo pipefail

command=${1:?usage: test-docker.sh start|stop DIR}
dir=${2:?usage: test-docker.sh start|stop DIR}
image=orchestrator-test/busybox:1

log() { echo "test-docker: $*" >&2; }

stop() {
  [ -d "$dir" ] || return 0
  if [ -S "$dir/docker.sock" ] && [ -f "$dir/dockerd.pid" ]; then
    ids=$(docker -H "unix://$dir/docker.sock" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || docker -H "unix://$dir/docker.sock" rm -f $ids >/dev/null 2>&1 || true
  fi
  for name in registry dockerd; do
    pid=$(cat "$dir/$name.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir" 2>/dev/null || log "could not remove all of $dir"
}

free_port() {
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  log "no free port found"; exit 1
}

start() {
  mkdir -p "$dir"/{root,exec,image/bin,registry-data,docker-config}
  dir=$(cd "$dir" && pwd)
  local sock="unix://$dir/docker.sock"

  dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$dir/root" --exec-root "$dir/exec" -H "$sock" --pidfile "$dir/dockerd.pid" \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 300); do
    docker -H "$sock" version >/dev/null 2>&1 && break
    sleep 0.2
  done
  docker -H "$sock" version >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$dir/dockerd.log" >&2; exit 1; }

  # An image made here: busybox (static) and the applets the tests use.
  cp "$(command -v busybox)" "$dir/image/bin/busybox"
  for applet in sh echo sleep cat ls true false env trap touch rm printf uname httpd; do ln -sf busybox "$dir/image/bin/$applet"; done
  tar -C "$dir/image" -c . | docker -H "$sock" import - "$image" >/dev/null

  local port password
  port=$(free_port)
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  htpasswd -Bbn tester "$password" >"$dir/htpasswd" 2>/dev/null
  cat >"$dir/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry-data
http:
  addr: 127.0.0.1:$port
auth:
  htpasswd:
    realm: orchestrator-tests
    path: $dir/htpasswd
YAML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  # Up to a minute: on a loaded machine (a build beside it) the registry has taken more than ten seconds to listen.
  local up=""
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    log "the registry did not listen on 127.0.0.1:$port; its log:"
    cat "$dir/registry.log" >&2
    exit 1
  fi

  local remote="127.0.0.1:$port/orchestrator-test/busybox"
  export DOCKER_CONFIG="$dir/docker-config"
  docker -H "$sock" tag "$image" "$remote:1"
  echo "$password" | docker -H "$sock" login -u tester --password-stdin "127.0.0.1:$port" >/dev/null
  docker -H "$sock" push "$remote:1" >/dev/null
  docker -H "$sock" logout "127.0.0.1:$port" >/dev/null
  docker -H "$sock" rmi "$remote:1" >/dev/null

  cat <<ENV
export ORCHESTRATOR_TEST_DOCKER_HOST='$sock'
export ORCHESTRATOR_TEST_IMAGE='$image'
export ORCHESTRATOR_TEST_REGISTRY_IMAGE='$remote'
export ORCHESTRATOR_TEST_REGISTRY_USER='tester'
export ORCHESTRATOR_TEST_REGISTRY_PASSWORD='$password'
ENV
  log "engine at $sock, registry at 127.0.0.1:$port (dockerd $(cat "$dir/dockerd.pid"), registry $(cat "$dir/registry.pid"))"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: test-docker.sh start|stop DIR" >&2; exit 64 ;;
esac
