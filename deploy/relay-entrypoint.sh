#!/bin/sh
# Entry point of the relay image (deploy/Containerfile). tests/integration/test_deploy.py
# runs it as the container would, in a plain subprocess.
#
#   setup        first run on an empty volume: 'relay init' (only if the volume has no key),
#                then 'relay db upgrade' (safe to run again). Run it once, alone: with
#                several relays, one setup container before them (deploy/compose.yaml).
#   serve        'relay serve' (exec: the relay is PID 1 and gets SIGTERM itself).
#   anything     another relay command: 'relay ARGS...' (status, audit verify, logs...).
#
# Environment: POCNET_RELAY_DATA (the volume, /data in the image),
# POCNET_RELAY_DATABASE_URL (PostgreSQL; SQLite in the volume without it), and the key's
# passphrase as a file: POCNET_RELAY_PASSPHRASE_FILE (a container secret). Without it the
# key is created unencrypted only if POCNET_RELAY_NO_PASSPHRASE=1 says so.
set -eu

data="${POCNET_RELAY_DATA:?POCNET_RELAY_DATA must name the relay data folder}"
passphrase_file="${POCNET_RELAY_PASSPHRASE_FILE:-}"

case "${1:-serve}" in
    setup)
        if [ -e "$data/keystore.json" ]; then
            echo "relay-entrypoint: $data already holds a relay key: not initialised again"
        elif [ -n "$passphrase_file" ]; then
            relay init --data "$data" --passphrase-file "$passphrase_file"
        elif [ "${POCNET_RELAY_NO_PASSPHRASE:-}" = "1" ]; then
            relay init --data "$data" --no-passphrase
        else
            echo "relay-entrypoint: set POCNET_RELAY_PASSPHRASE_FILE (a secret holding the" \
                 "key's passphrase) or POCNET_RELAY_NO_PASSPHRASE=1 (an unencrypted key)" >&2
            exit 8
        fi
        exec relay db upgrade --data "$data"
        ;;
    serve)
        shift || true
        if [ -n "$passphrase_file" ]; then
            exec relay serve --data "$data" --passphrase-file "$passphrase_file" "$@"
        fi
        exec relay serve --data "$data" "$@"
        ;;
    *)
        exec relay "$@"
        ;;
esac
