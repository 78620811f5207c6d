#!/usr/bin/env bash
# Lighthouse 12.2.3 scores (performance, accessibility, best practices, SEO; 100 is the target)
# for the example site's front page and an incident page, served over HTTP on loopback and
# loaded in Debian's headless Chromium. Prints the scores and writes target/bench/lighthouse.json
# (the summary table reads it). Needs node 20+, npm and chromium (CHROME_PATH, default
# /usr/bin/chromium); lighthouse is installed once into target/lighthouse.
#   bash benches/lighthouse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/lighthouse
if [ ! -x "$tools/node_modules/.bin/lighthouse" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error -E lighthouse@12.2.3 >/dev/null
fi
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The example site, built into a folder of its own (its database too).
cp -r config.example.yaml content themes "$work/"
sed -i 's|^  path: pharos.db|  path: '"$work"'/pharos.db|' "$work/config.example.yaml"
cargo run --release -q -- -c "$work/config.example.yaml" build --out "$work/publish" >/dev/null
incident=$(cd "$work/publish" && ls -d incidents/*/ | head -1)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/publish" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.html')" 2>/dev/null && break
  sleep 0.1
done

flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync"
mkdir -p target/bench
rows=()
for page in index.html "${incident}index.html"; do
  out="$work/report.json"
  "$tools/node_modules/.bin/lighthouse" "http://127.0.0.1:$port/$page" --quiet \
    --only-categories=performance,accessibility,best-practices,seo \
    --output=json --output-path="$out" --chrome-flags="$flags" >/dev/null 2>&1 || true
  rows+=("$(python3 - "$out" "$page" <<'EOF'
import json, sys
path, page = sys.argv[1], sys.argv[2]
try:
    report = json.load(open(path))
    cats = report["categories"]
    row = {k: round((cats[k]["score"] or 0) * 100) for k in ("performance", "accessibility", "best-practices", "seo")}
    failed = [a["id"] for a in report["audits"].values() if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") in ("binary", "numeric")]
    row["failed_audits"] = failed
except Exception as e:
    row = {"error": str(e)}
row["page"] = page
print(json.dumps(row))
EOF
)")
done
python3 - "${rows[@]}" <<'EOF'
import json, sys
rows = [json.loads(r) for r in sys.argv[1:]]
print(f"\n{'page':<44} {'perf':>5} {'a11y':>5} {'best':>5} {'seo':>5}")
for r in rows:
    if "error" in r:
        print(f"{r['page']:<44} lighthouse failed: {r['error']}")
        continue
    print(f"{r['page']:<44} {r['performance']:>5} {r['accessibility']:>5} {r['best-practices']:>5} {r['seo']:>5}")
    if r["failed_audits"]:
        print(f"  below 100 because of: {', '.join(r['failed_audits'])}")
json.dump({"rows": rows, "lighthouse": "12.2.3"}, open("target/bench/lighthouse.json", "w"), indent=2)
print("(figures written to target/bench/lighthouse.json; target: 100 in every column)")
EOF
