#!/bin/sh
# Debian's redis-server refuses other hosts without a config (protected mode); the official image does not.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no --bind '* -::*' "$@"
fi
exec "$@"
