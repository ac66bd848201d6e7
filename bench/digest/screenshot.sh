#!/usr/bin/env bash
# Screenshots an HTML digest in headless chromium (Debian's package) and checks from the
# picture that its inline SVG charts were drawn: bench/digest/check_screenshot.py needs at
# least 400 pixels of each chart colour (#2e7d32, #1565c0, #ef6c00). No network is used: the
# page is loaded from file://, every host name is made unresolvable, and a throwaway profile
# is used. Only the 1000x1800 viewport is captured.
# usage: bench/digest/screenshot.sh HTML_FILE [OUT_PNG] [CHECKER_ARGS...]
#   OUT_PNG defaults to HTML_FILE with .html replaced by .png; CHECKER_ARGS go to
#   check_screenshot.py (e.g. --min-pixels 1000 --colour '#2e7d32').
#   Env: CHROMIUM (browser binary, default chromium), PYTHON (default python3),
#        SCREENSHOT_TIMEOUT (seconds, default 60).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ $# -lt 1 ]; then
  echo "usage: $0 HTML_FILE [OUT_PNG] [CHECKER_ARGS...]" >&2
  exit 2
fi
html="$1"
[ -f "$html" ] || { echo "error: no such file: $html" >&2; exit 2; }
html_abs="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
out="${2:-${html%.html}.png}"
[ "$out" != "$html" ] || out="$html.png"
shift $(( $# >= 2 ? 2 : 1 ))

browser="${CHROMIUM:-chromium}"
if ! command -v "$browser" >/dev/null 2>&1; then
  echo "error: $browser is not installed; install it with: sudo apt-get install -y chromium" >&2
  exit 2
fi
py="${PYTHON:-python3}"

out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
profile="$(mktemp -d)"
log="$(mktemp)"
trap 'rm -rf "$profile" "$log"' EXIT
rm -f "$out_abs"

# --force-device-scale-factor=1 keeps pixel counts independent of the host's display scale;
# the resolver rule makes any http(s) reference in the page fail instead of going online.
if ! timeout "${SCREENSHOT_TIMEOUT:-60}" "$browser" \
    --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1000,1800 --force-device-scale-factor=1 \
    --user-data-dir="$profile" --no-first-run --no-default-browser-check \
    --disable-extensions --disable-background-networking --disable-component-update \
    --disable-sync --disable-default-apps --host-resolver-rules='MAP * ~NOTFOUND' \
    --screenshot="$out_abs" "file://$html_abs" >"$log" 2>&1; then
  echo "error: $browser failed; its output:" >&2
  tail -n 20 "$log" >&2
  exit 2
fi
if [ ! -s "$out_abs" ]; then
  echo "error: $browser wrote no screenshot to $out_abs; its output:" >&2
  tail -n 20 "$log" >&2
  exit 2
fi
echo "screenshot: $out_abs"
"$py" "$here/check_screenshot.py" "$out_abs" "$@"
