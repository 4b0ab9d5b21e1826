# Shared steps of scripts/serve and scripts/test: system packages, services, the venv.
# Every step checks first and does nothing when its work is already done.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

_apt_updated=0
apt_install() {
  # apt_install PKG... : install the Debian packages that are missing.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  if [ "$_apt_updated" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq
    _apt_updated=1
  fi
  say "installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_bin() {
  local py
  for py in python3.11 python3.12 python3.13 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  return 1
}

ensure_build_tools() {
  # A compiler, CMake and the Python headers are needed to build llama-cpp-python.
  local pkgs=(ca-certificates curl)
  command -v cc >/dev/null || pkgs+=(build-essential)
  command -v cmake >/dev/null || pkgs+=(cmake)
  command -v git >/dev/null || pkgs+=(git)
  apt_install "${pkgs[@]}"
  if ! python_bin >/dev/null; then
    apt_install python3 python3-venv python3-dev
  fi
  local py; py="$(python_bin)" || die "Python >= 3.11 is required"
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  # Native wheels built from source (llama-cpp-python) need the Python headers.
  if ! "$py" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    apt_install python3-dev
  fi
}

ensure_venv() {
  # ensure_venv EXTRAS : the project's venv with the given extras, e.g. "local,test".
  local extras="$1" py stamp
  py="$(python_bin)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$py" -m venv "$VENV"
  fi
  stamp="$VENV/.installed-$(echo "$extras" | tr ',' '-')"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    say "installing Seadragon and its dependencies [$extras] (the first build of llama-cpp-python takes a few minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    # The VM's CPU may advertise instructions it does not allow: build for a portable CPU.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    touch "$stamp"
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  # wait_port HOST PORT SECONDS NAME
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  die "$4 did not start listening on $1:$2 within $3 s"
}

ensure_rabbitmq() {
  port_open 127.0.0.1 5672 && return 0
  apt_install rabbitmq-server
  say "starting RabbitMQ"
  $SUDO rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 127.0.0.1 5672 60 RabbitMQ
}

as_postgres() {
  # Run a command as the postgres system user, with or without root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

ensure_postgres() {
  # Sets PG_PORT. Tests connect as postgres/seadragon over TCP; set that password once.
  command -v psql >/dev/null || apt_install postgresql-client
  PG_PORT=5432
  if ! port_open 127.0.0.1 "$PG_PORT"; then
    apt_install postgresql
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    # Debian picks another port when 5432 was taken at install time: use the cluster's own.
    PG_PORT="$(pg_conftool -s "$version" main show port 2>/dev/null || echo 5432)"
    if ! port_open 127.0.0.1 "$PG_PORT"; then
      say "starting PostgreSQL $version on port $PG_PORT"
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
        || $SUDO pg_ctlcluster "$version" main start 2>/dev/null \
        || pg_lsclusters -h | grep -q "online" \
        || die "PostgreSQL $version did not start: see /var/log/postgresql/"
      wait_port 127.0.0.1 "$PG_PORT" 30 PostgreSQL
    fi
  fi
  if ! PGPASSWORD=seadragon psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
    say "setting the PostgreSQL test password"
    as_postgres psql -p "$PG_PORT" -q -c "ALTER USER postgres PASSWORD 'seadragon'" >/dev/null
  fi
}

ensure_chromium() {
  command -v chromium >/dev/null && return 0
  apt_install chromium
}
