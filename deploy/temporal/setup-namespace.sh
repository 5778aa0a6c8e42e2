#!/bin/sh
# One-shot of docker-compose.yml (image temporalio/admin-tools): the namespace the app uses
# and its custom search attributes, then a wait until the frontend accepts queries on them
# (so the first workflow started with them is not refused). Safe on every
# `docker compose up`: what exists is kept; an attribute registered with another type fails
# the run instead of being silently used.
#
# Environment:
#   TEMPORAL_ADDRESS              frontend host:port (also read by the temporal CLI)
#   TEMPORAL_NAMESPACE            default "default"
#   TEMPORAL_NAMESPACE_RETENTION  closed-run retention of a new namespace, default 720h (30 days)
#   SEARCH_ATTRIBUTES             "Name=Type ..." -- core.temporal.SEARCH_ATTRIBUTES exactly
#                                 (tests/test_compose.py compares them)
#   SETUP_TRIES                   attempts, 2 s apart, of each waiting step (default 90)
set -eu

address=${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}
namespace=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_NAMESPACE_RETENTION:-720h}
attributes=${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is required}
tries=${SETUP_TRIES:-90}

t() {
  temporal --address "$address" "$@"
}

# retry CMD...: until CMD succeeds, at most $tries times.
retry() {
  n=1
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      echo "gave up after $n tries: $*" >&2
      return 1
    fi
    n=$((n + 1))
    sleep 2
  done
}

# "KeywordList" -> "INDEXED_VALUE_TYPE_KEYWORD_LIST", as the server names types.
indexed_type() {
  printf 'INDEXED_VALUE_TYPE_%s' \
    "$(printf '%s' "$1" | sed 's/\([a-z]\)\([A-Z]\)/\1_\2/g' | tr '[:lower:]' '[:upper:]')"
}

# The registered type of attribute $1 in the namespace, or nothing.
registered_type() {
  t operator search-attribute list --namespace "$namespace" --output json \
    | grep -o "\"$1\": *\"INDEXED_VALUE_TYPE_[A-Z_]*\"" \
    | sed 's/.*"\(INDEXED_VALUE_TYPE_[A-Z_]*\)"$/\1/' \
    | head -n 1
}

# ensure_attribute NAME TYPE: registered with that type afterwards, or fail.
ensure_attribute() {
  want=$(indexed_type "$2")
  have=$(registered_type "$1") || return 1
  if [ -z "$have" ]; then
    echo "registering search attribute $1 ($2)"
    t operator search-attribute create --namespace "$namespace" --name "$1" --type "$2" \
      || true  # a concurrent run may have won; the check below decides
    have=$(registered_type "$1") || return 1
  fi
  if [ "$have" = "$want" ]; then
    return 0
  fi
  if [ -n "$have" ]; then
    echo "search attribute $1 is registered as $have, expected $want" >&2
    exit 1
  fi
  return 1
}

describe_namespace() {
  t operator namespace describe --namespace "$namespace" >/dev/null 2>&1
}

# A query naming every attribute: refused until the frontend knows them all. Names are
# quoted: the query parser takes a bare `Status` for its own keyword.
probe_query() {
  query=""
  for pair in $attributes; do
    name=${pair%%=*}
    case ${pair#*=} in
      Int | Double) value=0 ;;
      Bool) value=true ;;
      Datetime) value='"2000-01-01T00:00:00Z"' ;;
      *) value='"probe"' ;;
    esac
    query="${query:+$query AND }\`$name\` = $value"
  done
  t workflow count --namespace "$namespace" --query "$query" >/dev/null
}

echo "waiting for the Temporal frontend at $address"
retry t operator cluster health >/dev/null

if describe_namespace; then
  echo "namespace $namespace exists"
else
  echo "creating namespace $namespace (retention $retention)"
  t operator namespace create --namespace "$namespace" --retention "$retention"
fi
# A new namespace reaches the frontend through its namespace cache (about 10 s).
retry describe_namespace

for pair in $attributes; do
  name=${pair%%=*}
  kind=${pair#*=}
  retry ensure_attribute "$name" "$kind"
  echo "search attribute $name is a $kind"
done

retry probe_query
echo "namespace $namespace is ready with search attributes: $attributes"
