#!/usr/bin/env bash
# Builds the two container images the integration tests use on machines that
# cannot reach an image registry (CI): casebook/redis:local and casebook/nats:local.
# Nothing is pulled: each image is a root folder imported with `docker import`.
# See deploy/images/README.md for why, and docs/testing.md for how tests use them.
#
# Usage: deploy/images/build.sh [--force]
#   --force  rebuild an image even if it already exists.
set -euo pipefail

REDIS_IMAGE="casebook/redis:local"
NATS_IMAGE="casebook/nats:local"
NATS_VERSION="v2.15.2"

force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
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

build_redis
build_nats
docker image ls --filter 'label=org.casebook.image'
