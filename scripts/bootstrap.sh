#!/usr/bin/env bash
# Install what foliodb needs from Debian's packages, if it is missing.
#   scripts/bootstrap.sh python    python3 with venv support
#   scripts/bootstrap.sh postgres  PostgreSQL 15 and pg_cron (skipped when DATABASE_URL is set)
# As root it installs with apt-get; as an ordinary user it names the packages and stops.
set -euo pipefail

need=()
case "${1:-}" in
  python)
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
    ;;
  postgres)
    if [ -n "${DATABASE_URL:-}" ]; then exit 0; fi
    bindir="${FOLIO_PG_BIN:-/usr/lib/postgresql/15/bin}"
    [ -x "$bindir/pg_ctl" ] || need+=(postgresql-15)
    [ -f "$bindir/../lib/pg_cron.so" ] || need+=(postgresql-15-cron)
    ;;
  *) echo "usage: $0 python|postgres" >&2; exit 2 ;;
esac

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "foliodb needs these Debian packages: ${need[*]}" >&2
  echo "install them, then run make again:  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
