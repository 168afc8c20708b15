#!/bin/sh
# Resolve the Apache Kafka broker jars from Maven Central into a cache directory, once.
# Needs: Java 17+ and Maven 3 on PATH, network to Maven Central (only on a cold cache).
# Usage: scripts/kafka/fetch.sh            (prints the libs directory on stdout)
# Env:   CLIPWISE_KAFKA_VERSION (default in pom.xml), CLIPWISE_KAFKA_CACHE (default .cache/kafka)
# The test harness (test/support/kafka.ts) runs this itself when the jars are missing;
# CI may call it ahead of the tests so the download is not charged to a test's timeout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${CLIPWISE_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")}
cache=${CLIPWISE_KAFKA_CACHE:-$root/.cache/kafka}
libs="$cache/$version/libs"
if [ -f "$libs/.complete" ]; then
  echo "$libs"
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn (Maven 3) is needed to resolve the Kafka jars" >&2; exit 1; }
mkdir -p "$cache/$version"
# Test files run in parallel: the lock makes a cold cache download once, not once per file.
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$libs/.complete" ]; then
  tmp="$cache/$version/libs.tmp"
  rm -rf "$tmp"
  # A private local repository keeps the cache self-contained (CI can cache one folder).
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" \
    -Dmaven.repo.local="$cache/m2" \
    -Dkafka.version="$version" \
    -DoutputDirectory="$tmp" \
    -DincludeScope=runtime \
    dependency:copy-dependencies >&2
  touch "$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
fi
echo "$libs"
