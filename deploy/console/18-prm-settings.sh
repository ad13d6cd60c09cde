#!/bin/sh
# Before the template is rendered (20-envsubst-on-templates.sh): refuse to start without
# the gateway's address, rather than answer 503 to every API request.

set -eu

fail() {
    echo "$0: $*" >&2
    exit 1
}

url="${PRM_GATEWAY_URL:-}"
[ -n "$url" ] || fail "set PRM_GATEWAY_URL to the gateway's address, e.g. http://gateway:8000"
case "$url" in
    http://* | https://*) ;;
    *) fail "PRM_GATEWAY_URL=$url: not an http:// or https:// address" ;;
esac
# With a path, nginx would send every request to that one path instead of its own.
case "${url#*://}" in
    */*) fail "PRM_GATEWAY_URL=$url: give the scheme, host and port only, no path" ;;
esac
# nginx looks the gateway up itself, from the resolvers of /etc/resolv.conf
# (15-local-resolvers.envsh, NGINX_ENTRYPOINT_LOCAL_RESOLVERS).
[ -n "${NGINX_LOCAL_RESOLVERS:-}" ] || fail "no nameserver in /etc/resolv.conf to look up the gateway"
