#!/usr/bin/env bash
# Installs what clipwise's tests need beyond npm packages, idempotently:
#   Debian: ffmpeg (decode/encode), opencv-doc (real footage: vtest.avi, Megamind_bugy.avi),
#           kcat (outside Kafka client), prometheus (scrape test),
#           GStreamer RTSP server + python3-gi (the RTSP test server)
#   Maven Central: the Apache Kafka jars for the single-node KRaft test broker (cached in .cache/kafka)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(openjdk-17-jre-headless maven ffmpeg opencv-doc kcat prometheus gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good python3-gi)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -x scripts/kafka/fetch.sh ]; then
  scripts/kafka/fetch.sh
fi
echo "setup: ok"
