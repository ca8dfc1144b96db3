#!/usr/bin/env bash
# OCI images for the test cluster's node, built offline: no base image can be pulled here, so each
# image is assembled `from scratch` with Debian's buildah (vfs storage, chroot isolation, a private
# storage root that is removed afterwards) from files of this machine: the release binaries and
# the shared libraries `ldd` names, Debian's PostgreSQL and Node. Entrypoints, users, ports and
# working directories are those of the Dockerfiles (scripts/test.d/55-images.sh compares them).
#
#   scripts/images.sh build [NAME…]          build what changed (default: all), print the archives
#   scripts/images.sh import SOCKET [NAME…]  import the archives into the containerd at SOCKET
#                                            (namespace k8s.io, what the kubelet's CRI uses)
#   scripts/images.sh ref NAME               the image reference a pod spec names
#   scripts/images.sh archive NAME           the path of its OCI archive
#
# NAME: pause (the pod sandbox), api, operator, auth, postgres; the node's own (not in "all"):
# coredns (the cluster DNS) and busybox (the local-path provisioner's helper pods). An image is
# rebuilt only when the content of its root filesystem or its configuration changed (a key beside
# each archive).
# Knobs: IMAGES_DIR (archives; default ~/.cache/chatplane/images), CARGO_TARGET_DIR,
# IMAGES_SNAPSHOTTER (ctr import --snapshotter), IMAGES_BINS (a directory holding chatplane-api and
# chatplane-operator to take instead of a release build). Needs root (vfs storage keeps owners).
set -euo pipefail

IMAGES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGES_SCRIPT="$IMAGES_ROOT/scripts/images.sh"
IMAGES_DIR="${IMAGES_DIR:-$HOME/.cache/chatplane/images}"
IMAGES_ALL=(pause api operator auth postgres)
IMAGES_VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$IMAGES_ROOT/Cargo.toml" | head -n 1)"
# The PATH of the Debian-based images the Dockerfiles start from (distroless, node).
IMAGES_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

images_say() { printf '[images] %s\n' "$*" >&2; }
images_die() { images_say "$*"; exit 1; }

# The newest Debian PostgreSQL major version installed (its server binaries are the image's).
images_pg_major() {
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    [ -x "$d/postgres" ] && { basename "$(dirname "$d")"; return 0; }
  done
  return 1
}

images_ref() {
  case $1 in
    pause) echo "localhost/chatplane/pause:1" ;;
    api) echo "ghcr.io/chatplane/chatplane-api:$IMAGES_VERSION" ;;
    operator) echo "ghcr.io/chatplane/chatplane-operator:$IMAGES_VERSION" ;;
    auth) echo "ghcr.io/chatplane/chatplane-auth:$IMAGES_VERSION" ;;
    postgres) echo "localhost/chatplane/postgres:$(images_pg_major || echo 15)" ;;
    coredns) echo "localhost/chatplane/coredns:1.15.0" ;;
    busybox) echo "localhost/chatplane/busybox:1" ;;
    *) images_die "unknown image '$1' (one of: ${IMAGES_ALL[*]})" ;;
  esac
}

images_archive() { images_ref "$1" >/dev/null && echo "$IMAGES_DIR/$1.tar"; }

# --- tools ----------------------------------------------------------------------------------------

images_apt() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    images_die "missing: $*; install them (Debian: apt-get install $*)"
  fi
  images_say "apt-get install $*"
  # Another apt-get may hold the lock (other scripts install their tools too): wait for it.
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >&2
}

images_tools() {
  [ "$(id -u)" -eq 0 ] || images_die "needs root (buildah's vfs storage keeps file owners)"
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v gcc >/dev/null || missing+=(gcc)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(find /usr/lib -name libc.a -print -quit)" ] || missing+=(libc6-dev)
  [ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  images_pg_major >/dev/null || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] || images_apt "${missing[@]}"
}

# --- staging a root filesystem --------------------------------------------------------------------

# The merged-/usr layout of Debian (what ldd's /lib/... paths resolve through), /tmp, CA
# certificates, and passwd/group with root, nobody and the image's user ($2 name, $3 uid, $4 home).
stage_base() {
  local root=$1 user=$2 uid=$3 home=$4
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/etc/ssl/certs "$root/tmp" "$root/$home"
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  {
    echo "root:x:0:0:root:/root:/sbin/nologin"
    echo "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin"
    echo "$user:x:$uid:$uid:$user:$home:/sbin/nologin"
  } >"$root/etc/passwd"
  printf '%s\n' "root:x:0:" "nogroup:x:65534:" "$user:x:$uid:" >"$root/etc/group"
  [ "$home" = /tmp ] || chown "$uid:$uid" "$root/$home"
}

# The shared libraries (and the loader) that ldd names for each file, copied to the same paths.
stage_libs() {
  local root=$1 file lib
  shift
  for file in "$@"; do
    while read -r lib; do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done < <(ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3; next} $1 ~ /^\// {print $1}' || true)
  done
}

# $1 root, $2 file, $3 path inside the image: the file and its libraries.
stage_elf() {
  mkdir -p "$1$(dirname "$3")"
  install -m 0755 "$2" "$1$3"
  stage_libs "$1" "$2"
}

# The release binaries, built with the workspace's lock file (cargo skips what is current).
images_release_bins() {
  local target="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
  images_say "cargo build --release (chatplane-api, chatplane-operator)"
  (cd "$IMAGES_ROOT" && CARGO_TARGET_DIR="$target" cargo build --release --locked -j 2 \
    -p chatplane-api -p chatplane-operator --bin chatplane-api --bin chatplane-operator) >&2
  echo "$target/release"
}

# A key over what a set of paths holds (names, types, modes, owners, link targets, contents).
tree_key() {
  local base=$1
  shift
  (
    cd "$base"
    find "$@" -printf '%p %y %m %U:%G %l\n' | LC_ALL=C sort
    find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  ) | sha256sum | cut -d' ' -f1
}

# web/dist, built again (vite) only when a source of the UI changed since the last image build.
images_web_dist() {
  local web=$IMAGES_ROOT/web key
  key=$(tree_key "$web" index.html package.json package-lock.json public src tsconfig.json \
    vite.config.ts vite.widget.config.ts)
  if [ -f "$web/dist/index.html" ] && [ "$(cat "$IMAGES_DIR/web-dist.key" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    images_say "npm ci (web)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
  images_say "building web/dist (vite)"
  (cd "$web" && npm run -s build:dist) >&2
  echo "$key" >"$IMAGES_DIR/web-dist.key"
}

# The auth server's production dependencies (npm ci --omit=dev, as its Dockerfile does), kept
# under IMAGES_DIR and installed again only when its lock file changes.
images_auth_modules() {
  local dir=$IMAGES_DIR/auth-modules key
  key=$(sha256sum "$IMAGES_ROOT/auth-server/package.json" "$IMAGES_ROOT/auth-server/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ -d "$dir/node_modules" ] && [ "$(cat "$dir/key" 2>/dev/null)" = "$key" ]; then
    echo "$dir/node_modules"
    return 0
  fi
  images_say "npm ci --omit=dev (auth-server)"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$IMAGES_ROOT/auth-server/package.json" "$IMAGES_ROOT/auth-server/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  echo "$key" >"$dir/key"
  echo "$dir/node_modules"
}

# --- the images: each stage_<name> fills a root and sets IMAGE_CONFIG (buildah config flags) ------

stage_pause() {
  local root=$1
  mkdir -p "$root"
  gcc -static -Os -Wall -Wextra -Werror -o "$root/pause" "$IMAGES_ROOT/scripts/images/pause.c"
  strip "$root/pause"
  IMAGE_CONFIG=(--user 65535:65535 --entrypoint '["/pause"]')
}

# As operator/Dockerfile: distroless/cc:nonroot (glibc, libgcc, CA certificates; uid 65532, home
# as working directory), port 8081.
stage_operator() {
  local root=$1
  stage_base "$root" nonroot 65532 /home/nonroot
  stage_elf "$root" "$IMAGES_BINS/chatplane-operator" /usr/local/bin/chatplane-operator
  IMAGE_CONFIG=(--env "PATH=$IMAGES_PATH" --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    --user 65532:65532 --workingdir /home/nonroot --port 8081/tcp --entrypoint '["chatplane-operator"]' --cmd '["run"]')
}

# As api/Dockerfile: the binary, the guide as a demo corpus and the web UI (WEB_DIR), uid 10001.
stage_api() {
  local root=$1
  stage_base "$root" chatplane 10001 /tmp
  stage_elf "$root" "$IMAGES_BINS/chatplane-api" /usr/local/bin/chatplane-api
  mkdir -p "$root/usr/share/chatplane"
  cp -r "$IMAGES_ROOT/docs" "$root/usr/share/chatplane/docs"
  cp -r "$IMAGES_ROOT/web/dist" "$root/usr/share/chatplane/web"
  IMAGE_CONFIG=(--env "PATH=$IMAGES_PATH" --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    --env WEB_DIR=/usr/share/chatplane/web --user 10001:10001 --workingdir /tmp --port 8080/tcp --port 9090/tcp
    --entrypoint '["chatplane-api"]' --cmd '["serve"]')
}

# As auth-server/Dockerfile (node:20-bookworm-slim): this machine's node, the server's sources and
# its production node_modules in /app, user node (1000), port 3000.
stage_auth() {
  local root=$1
  stage_base "$root" node 1000 /home/node
  stage_elf "$root" "$IMAGES_NODE" /usr/local/bin/node
  mkdir -p "$root/app"
  cp "$IMAGES_ROOT/auth-server/package.json" "$IMAGES_ROOT/auth-server/package-lock.json" "$root/app/"
  cp -r "$IMAGES_ROOT/auth-server/src" "$root/app/src"
  cp -r "$IMAGES_MODULES" "$root/app/node_modules"
  IMAGE_CONFIG=(--env "PATH=$IMAGES_PATH" --env NODE_ENV=production --workingdir /app
    --user node --port 3000/tcp --cmd '["node", "src/main.js"]')
}

# Debian's PostgreSQL server: bin/, lib/ (without the LLVM JIT: PostgreSQL runs without it when the
# module is absent), share/, the libraries ldd names, time zones, a shell for the operator's init
# step (sql/postgres-init.sh), user postgres (999). PATH holds the server binaries, as in the
# official image; the operator's StatefulSet runs `postgres -D …` itself (no entrypoint script).
stage_postgres() {
  local root=$1 major lib elf
  major=$(images_pg_major)
  lib=/usr/lib/postgresql/$major
  stage_base "$root" postgres 999 /var/lib/postgresql
  mkdir -p "$root$lib" "$root/usr/share/postgresql" "$root/usr/share/zoneinfo"
  cp -a "$lib/bin" "$root$lib/"
  cp -a "$lib/lib" "$root$lib/"
  rm -rf "$root$lib/lib/llvmjit.so" "$root$lib/lib/llvmjit_types.bc" "$root$lib/lib/bitcode"
  cp -a "/usr/share/postgresql/$major" "$root/usr/share/postgresql/"
  cp -a /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
  stage_elf "$root" "$(readlink -f /bin/sh)" /usr/bin/dash
  ln -s dash "$root/usr/bin/sh"
  while IFS= read -r -d '' elf; do
    stage_libs "$root" "$elf"
  done < <(find "$root$lib" -type f \( -perm -u+x -o -name '*.so*' \) -print0)
  mkdir -p "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
  chown 999:999 "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
  chmod 0700 "$root/var/lib/postgresql/data"
  chmod 2775 "$root/var/run/postgresql"
  IMAGE_CONFIG=(--env "PATH=$lib/bin:$IMAGES_PATH" --env PGDATA=/var/lib/postgresql/data
    --user 999:999 --port 5432/tcp --stop-signal SIGINT --cmd '["postgres"]')
}

# --- what each image is made of ---------------------------------------------------------------
# prepare_<name> builds what the image takes (cargo, npm, vite; each skips what is current);
# inputs_<name> lists the files and trees it copies (the libraries through ld.so.cache, which
# changes when a library package does), so an unchanged image is known without staging it.

prepare_pause() { :; }
inputs_pause() { echo "$IMAGES_ROOT/scripts/images/pause.c" "$(command -v gcc)" /etc/ld.so.cache; }

prepare_operator() { [ -n "${IMAGES_BINS:-}" ] || IMAGES_BINS=$(images_release_bins); }
inputs_operator() {
  echo "$IMAGES_BINS/chatplane-operator" /etc/ssl/certs/ca-certificates.crt /etc/ld.so.cache
}

prepare_api() {
  prepare_operator
  images_web_dist
}
inputs_api() {
  echo "$IMAGES_BINS/chatplane-api" "$IMAGES_ROOT/docs" "$IMAGES_ROOT/web/dist" \
    /etc/ssl/certs/ca-certificates.crt /etc/ld.so.cache
}

prepare_auth() {
  local node
  node=$(command -v node) || images_die "node is missing"
  IMAGES_NODE=$(readlink -f "$node")
  IMAGES_MODULES=$(images_auth_modules)
}
inputs_auth() {
  echo "$IMAGES_NODE" "$IMAGES_ROOT/auth-server/src" "$IMAGES_ROOT/auth-server/package.json" \
    "$IMAGES_ROOT/auth-server/package-lock.json" "$IMAGES_MODULES/../key" \
    /etc/ssl/certs/ca-certificates.crt /etc/ld.so.cache
}

prepare_postgres() { images_pg_major >/dev/null || images_die "Debian's postgresql is not installed"; }
inputs_postgres() {
  local major
  major=$(images_pg_major)
  echo "/usr/lib/postgresql/$major" "/usr/share/postgresql/$major" /usr/share/zoneinfo \
    "$(readlink -f /bin/sh)" /etc/ld.so.cache
}

# The node's CoreDNS (the binary scripts/cluster-bins.sh builds from test/cluster/coredns), uid
# 65532 as upstream's image; it listens on 1053, so it needs no capability.
prepare_coredns() {
  # shellcheck source=scripts/cluster-bins.sh
  source "$IMAGES_ROOT/scripts/cluster-bins.sh"
  IMAGES_COREDNS=$(node_bin coredns)
  [ -x "$IMAGES_COREDNS" ] || images_die "$IMAGES_COREDNS is missing: bash scripts/cluster-bins.sh --node"
}
inputs_coredns() { echo "$IMAGES_COREDNS"; }
stage_coredns() {
  local root=$1
  mkdir -p "$root"
  install -m 0755 "$IMAGES_COREDNS" "$root/coredns"
  IMAGE_CONFIG=(--user 65532:65532 --port 1053/udp --port 1053 --entrypoint '["/coredns"]')
}

# Debian's static busybox with the applets local-path-provisioner's setup/teardown scripts run.
prepare_busybox() { [ -x /bin/busybox ] || images_apt busybox-static; }
inputs_busybox() { echo /bin/busybox; }
stage_busybox() {
  local root=$1 applet
  mkdir -p "$root/bin"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for applet in sh mkdir rm chmod ls cat; do ln -s busybox "$root/bin/$applet"; done
  IMAGE_CONFIG=(--env PATH=/bin --entrypoint '["/bin/sh"]')
}

# --- buildah ----------------------------------------------------------------------------------------

# buildah on a private storage root under $IMAGES_STORE: nothing of the machine's own is read or
# written (its storage.conf included).
bh() {
  CONTAINERS_STORAGE_CONF="$IMAGES_STORE/storage.conf" STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot \
    buildah --root "$IMAGES_STORE/root" --runroot "$IMAGES_STORE/run" --storage-driver vfs "$@"
}

images_store_up() {
  IMAGES_STORE=$(mktemp -d "$IMAGES_DIR/store.XXXXXX")
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "$IMAGES_STORE/root" "$IMAGES_STORE/run" >"$IMAGES_STORE/storage.conf"
  echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$IMAGES_STORE/policy.json"
}

images_cleanup() {
  [ -z "${IMAGES_STAGE:-}" ] || rm -rf "$IMAGES_STAGE"
  IMAGES_STAGE=
  [ -n "${IMAGES_STORE:-}" ] || return 0
  bh rm --all >/dev/null 2>&1 || true
  rm -rf "$IMAGES_STORE"
  IMAGES_STORE=
}

# Builds one image unless its key (root filesystem content + configuration + this script) is
# the one its archive was built from.
images_build_one() {
  local name=$1 ref archive stage inputs key ctr mnt started
  ref=$(images_ref "$name")
  archive=$(images_archive "$name")
  started=$(date +%s)
  "prepare_$name"
  # First key: names, sizes, times and modes of the inputs (cheap); second: the staged root's
  # content and the configuration. Either matching what the archive was built from skips it.
  # shellcheck disable=SC2046 # the input list is paths without blanks, one word each
  inputs=$( {
    find $("inputs_$name") -printf '%p %s %T@ %m\n' | LC_ALL=C sort
    echo "$ref"
    sha256sum "$IMAGES_SCRIPT"
  } | sha256sum | cut -d' ' -f1)
  if [ -f "$archive" ] && [ "$(sed -n 2p "$archive.key" 2>/dev/null)" = "$inputs" ]; then
    images_say "$name: unchanged ($ref)"
    echo "$archive"
    return 0
  fi
  stage=$(mktemp -d "$IMAGES_DIR/stage-$name.XXXXXX")
  IMAGES_STAGE=$stage
  IMAGE_CONFIG=()
  "stage_$name" "$stage/root"
  key=$( {
    tree_key "$stage/root" .
    printf '%s\n' "$ref" "${IMAGE_CONFIG[@]}"
    sha256sum "$IMAGES_SCRIPT"
  } | sha256sum | cut -d' ' -f1)
  if [ -f "$archive" ] && [ "$(sed -n 1p "$archive.key" 2>/dev/null)" = "$key" ]; then
    rm -rf "$stage"
    IMAGES_STAGE=
    printf '%s\n' "$key" "$inputs" >"$archive.key"
    images_say "$name: unchanged content ($ref)"
    echo "$archive"
    return 0
  fi
  images_say "$name: building $ref"
  [ -n "${IMAGES_STORE:-}" ] || images_store_up
  ctr=$(bh from --name "chatplane-$name" scratch)
  mnt=$(bh mount "$ctr")
  cp -a "$stage/root/." "$mnt/"
  bh umount "$ctr" >/dev/null
  rm -rf "$stage"
  IMAGES_STAGE=
  bh config "${IMAGE_CONFIG[@]}" --created-by "scripts/images.sh" \
    --label "org.opencontainers.image.source=chatplane scripts/images.sh" "$ctr"
  bh commit --quiet --format oci "$ctr" "$ref" >/dev/null
  bh rm "$ctr" >/dev/null
  # A unique name, then rename: a reader never sees a half-written or missing archive.
  bh push --quiet --signature-policy "$IMAGES_STORE/policy.json" "$ref" "oci-archive:$archive.$$.tmp:$ref"
  bh rmi "$ref" >/dev/null
  mv -f "$archive.$$.tmp" "$archive"
  printf '%s\n' "$key" "$inputs" >"$archive.key"
  images_say "$name: $(du -m "$archive" | cut -f1) MB archive in $(($(date +%s) - started)) s"
  echo "$archive"
}

images_build() {
  local name
  [ $# -gt 0 ] || set -- "${IMAGES_ALL[@]}"
  for name in "$@"; do images_ref "$name" >/dev/null; done
  images_tools
  mkdir -p "$IMAGES_DIR"
  # One build at a time per IMAGES_DIR (several checkouts may share the default one).
  exec 9>"$IMAGES_DIR/.build.lock"
  flock -w 1800 9 || images_die "another scripts/images.sh build holds $IMAGES_DIR/.build.lock"
  trap images_cleanup EXIT
  for name in "$@"; do images_build_one "$name"; done
  images_cleanup
}

# ctr import names an OCI archive's image after its ref annotation only when the reference
# starts with --base-name, so that is the reference without its tag.
images_import() {
  local socket=$1 name ref archive opts=()
  shift
  [ -S "$socket" ] || images_die "no containerd socket at $socket"
  [ $# -gt 0 ] || set -- "${IMAGES_ALL[@]}"
  [ -z "${IMAGES_SNAPSHOTTER:-}" ] || opts+=(--snapshotter "$IMAGES_SNAPSHOTTER")
  for name in "$@"; do
    ref=$(images_ref "$name")
    archive=$(images_archive "$name")
    [ -f "$archive" ] || images_die "$archive is missing: scripts/images.sh build $name"
    ctr -a "$socket" -n k8s.io images import "${opts[@]}" --base-name "${ref%:*}" "$archive" >&2
    images_say "imported $ref"
  done
}

images_main() {
  local command=${1:-}
  shift || true
  case $command in
    build) images_build "$@" ;;
    import)
      [ $# -ge 1 ] || images_die "usage: scripts/images.sh import SOCKET [NAME…]"
      images_import "$@"
      ;;
    ref) images_ref "${1:?NAME}" ;;
    archive) images_archive "${1:?NAME}" ;;
    *) images_die "usage: scripts/images.sh build|import|ref|archive … (see the header)" ;;
  esac
}

# Sourced (e.g. by a test) it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  images_main "$@"
fi
