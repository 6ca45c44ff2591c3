#!/usr/bin/env bash
# Builds Casebook's container images with no registry access: the two the integration
# tests use (casebook/redis:local, casebook/nats:local), Prometheus for the compose stack
# (casebook/prometheus:local), and one per Casebook binary (casebook/mlp:local, ...).
# Nothing is pulled: the servers are root folders imported with `docker import`, the
# binaries static Go builds in `FROM scratch` images. See deploy/images/README.md.
#
# Usage: deploy/images/build.sh [--force] [--apps-only | --no-apps]
#   --force      rebuild the Redis, NATS and Prometheus images even if they exist (the
#                binaries' images are always rebuilt; Docker's layer cache keeps it cheap)
#   --apps-only  build only the binaries' images; --no-apps: only the servers' images
set -euo pipefail

REDIS_IMAGE="casebook/redis:local"
NATS_IMAGE="casebook/nats:local"
NATS_VERSION="v2.15.2"
PROMETHEUS_IMAGE="casebook/prometheus:local"
# The binaries with an image casebook/NAME:local, and the package each is built from.
# deploy/check reads these two lines (compose's images must be ones this script builds).
APP_BINARIES=(mlp fraud recsys adsranking loadgen)
APP_PACKAGES=(./platform/cmd/mlp ./fraud/cmd/fraud ./recsys/cmd/recsys ./adsranking/cmd/adsranking ./loadgen/cmd/loadgen)
# The uid and gid the binaries run as (not root; the name "casebook" in /etc/passwd).
APP_UID=65532

force=0
apps=1
servers=1
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--apps-only) servers=0 ;;
	--no-apps) apps=0 ;;
	-h | --help)
		sed -n '2,8p' "$0"
		exit 0
		;;
	*)
		echo "build.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "build.sh: $*"; }

command -v docker >/dev/null || {
	echo "build.sh: docker CLI not found" >&2
	exit 1
}
docker info >/dev/null 2>&1 || {
	echo "build.sh: no Docker engine answers 'docker info'; start one first" >&2
	exit 1
}

work="$(mktemp -d /tmp/casebook-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# image_exists NAME: true when NAME is already in the local image store.
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# copy_with_parents FILE ROOT: copies FILE (following symlinks) to ROOT/FILE.
copy_with_parents() {
	install -D -m 0755 "$(readlink -f "$1")" "$2$1"
}

build_redis() {
	if [[ $force -eq 0 ]] && image_exists "$REDIS_IMAGE"; then
		log "$REDIS_IMAGE exists, skipping (use --force to rebuild)"
		return
	fi
	local start=$SECONDS
	if [[ ! -x /usr/bin/redis-server ]]; then
		log "installing Debian's redis-server (for its binary)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
	fi
	log "building $REDIS_IMAGE from /usr/bin/redis-server and its libraries"
	local root="$work/redis"
	mkdir -p "$root/tmp" "$root/data"
	chmod 1777 "$root/tmp"
	copy_with_parents /usr/bin/redis-server "$root"
	# Every library ldd resolves, plus the dynamic loader (the line with no '=>').
	local lib
	while read -r lib; do
		copy_with_parents "$lib" "$root"
	done < <(ldd /usr/bin/redis-server | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
	tar -C "$root" -c . | docker import \
		--change 'ENTRYPOINT ["/usr/bin/redis-server"]' \
		--change 'WORKDIR /data' \
		--change 'LABEL org.casebook.image=redis-local' \
		--message "casebook: Debian redis-server $(/usr/bin/redis-server --version | awk '{print $3}')" \
		- "$REDIS_IMAGE" >/dev/null
	# Smoke test: the binary runs inside the image (no shell needed).
	docker run --rm --network none "$REDIS_IMAGE" --version
	log "$REDIS_IMAGE built in $((SECONDS - start)) s"
}

build_nats() {
	if [[ $force -eq 0 ]] && image_exists "$NATS_IMAGE"; then
		log "$NATS_IMAGE exists, skipping (use --force to rebuild)"
		return
	fi
	local start=$SECONDS
	command -v go >/dev/null || {
		echo "build.sh: go not found; it is needed to build nats-server" >&2
		exit 1
	}
	log "building nats-server $NATS_VERSION with cgo off (static binary)"
	local root="$work/nats"
	mkdir -p "$root/tmp"
	chmod 1777 "$root/tmp"
	# GOWORK=off and a neutral directory: `go install pkg@version` must not see the workspace.
	(cd "$work" && GOWORK=off CGO_ENABLED=0 GOBIN="$root" go install "github.com/nats-io/nats-server/v2@$NATS_VERSION")
	tar -C "$root" -c . | docker import \
		--change 'ENTRYPOINT ["/nats-server"]' \
		--change 'LABEL org.casebook.image=nats-local' \
		--message "casebook: nats-server $NATS_VERSION" \
		- "$NATS_IMAGE" >/dev/null
	docker run --rm --network none "$NATS_IMAGE" --version
	log "$NATS_IMAGE built in $((SECONDS - start)) s"
}

build_prometheus() {
	if [[ $force -eq 0 ]] && image_exists "$PROMETHEUS_IMAGE"; then
		log "$PROMETHEUS_IMAGE exists, skipping (use --force to rebuild)"
		return
	fi
	local start=$SECONDS
	if [[ ! -x /usr/bin/prometheus ]]; then
		log "installing Debian's prometheus (for its binary)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
	fi
	log "building $PROMETHEUS_IMAGE from /usr/bin/prometheus and its libraries"
	local root="$work/prometheus"
	mkdir -p "$root/tmp" "$root/prometheus" "$root/etc/prometheus"
	chmod 1777 "$root/tmp"
	chown "$APP_UID:$APP_UID" "$root/prometheus"
	copy_with_parents /usr/bin/prometheus "$root"
	local lib
	while read -r lib; do
		copy_with_parents "$lib" "$root"
	done < <(ldd /usr/bin/prometheus | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
	tar -C "$root" --numeric-owner -c . | docker import \
		--change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
		--change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
		--change "USER $APP_UID:$APP_UID" \
		--change 'WORKDIR /prometheus' \
		--change 'LABEL org.casebook.image=prometheus-local' \
		--message "casebook: Debian prometheus $(/usr/bin/prometheus --version 2>&1 | awk 'NR == 1 {print $3}')" \
		- "$PROMETHEUS_IMAGE" >/dev/null
	docker run --rm --network none "$PROMETHEUS_IMAGE" --version | head -n 1
	log "$PROMETHEUS_IMAGE built in $((SECONDS - start)) s"
}

# build_app NAME PACKAGE: casebook/NAME:local, FROM scratch: the static binary, CA
# certificates, a passwd and group naming the non-root user, a writable home and /tmp.
# HEALTHCHECK runs the binary's own `healthcheck` command (there is no shell or curl).
build_app() {
	local name=$1 pkg=$2 start=$SECONDS
	local ctx="$work/app-$name"
	local root="$ctx/root"
	mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/home/casebook"
	chmod 1777 "$root/tmp"
	log "building $name ($pkg) with cgo off (static binary)"
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$root/usr/local/bin/$name" "$pkg"
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
	printf 'root:x:0:0:root:/root:/sbin/nologin\ncasebook:x:%d:%d:casebook:/home/casebook:/sbin/nologin\n' "$APP_UID" "$APP_UID" >"$root/etc/passwd"
	printf 'root:x:0:\ncasebook:x:%d:\n' "$APP_UID" >"$root/etc/group"
	local health="HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 CMD [\"/usr/local/bin/$name\", \"healthcheck\"]"
	if [[ $name == loadgen ]]; then
		# loadgen runs to completion (make stack-load); it has no server to check.
		health="HEALTHCHECK NONE"
	fi
	cat >"$ctx/Dockerfile" <<-EOF
		FROM scratch
		COPY --chown=0:0 root/ /
		COPY --chown=$APP_UID:$APP_UID root/home/casebook /home/casebook
		USER $APP_UID:$APP_UID
		WORKDIR /home/casebook
		ENV HOME=/home/casebook
		STOPSIGNAL SIGTERM
		$health
		LABEL org.casebook.image=$name-local
		ENTRYPOINT ["/usr/local/bin/$name"]
	EOF
	docker build -q -t "casebook/$name:local" "$ctx" >/dev/null
	docker run --rm --network none "casebook/$name:local" --help >/dev/null
	log "casebook/$name:local built in $((SECONDS - start)) s"
}

if ((servers)); then
	build_redis
	build_nats
	build_prometheus
fi
if ((apps)); then
	command -v go >/dev/null || {
		echo "build.sh: go not found; it is needed to build the binaries" >&2
		exit 1
	}
	cd "$(dirname "${BASH_SOURCE[0]}")/../.."
	for i in "${!APP_BINARIES[@]}"; do
		build_app "${APP_BINARIES[$i]}" "${APP_PACKAGES[$i]}"
	done
fi
docker image ls --filter 'label=org.casebook.image'
