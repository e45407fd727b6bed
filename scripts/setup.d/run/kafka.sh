#!/usr/bin/env bash
# Fetches the jars of the local Kafka broker (scripts/kafka.sh) from Maven Central with the tiny
# pom in scripts/kafka/pom.xml. Jars and Maven's local repository live outside the clone, so a
# second run downloads nothing. Java 17 and Maven come with the machine image.
set -euo pipefail
cd "$(dirname "$0")/../../.."
CACHE="${KAFKA_CACHE:-/var/cache/privacy-sensor/kafka}"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' scripts/kafka/pom.xml)"
LIB="$CACHE/lib-$VERSION"
if [ -f "$LIB/.complete" ]; then
  echo "kafka: jars of $VERSION cached in $LIB"
  exit 0
fi
command -v mvn >/dev/null || { echo "kafka: mvn not found (install Debian's maven)" >&2; exit 1; }
command -v java >/dev/null || { echo "kafka: java not found (install openjdk-17-jre-headless)" >&2; exit 1; }
mkdir -p "$CACHE"
rm -rf "$LIB.tmp"
echo "kafka: fetching Kafka $VERSION jars into $LIB"
nice mvn -B -q -f scripts/kafka/pom.xml -Dmaven.repo.local="$CACHE/m2" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB.tmp"
touch "$LIB.tmp/.complete"
rm -rf "$LIB"
mv "$LIB.tmp" "$LIB"
echo "kafka: $(ls "$LIB" | wc -l) jars in $LIB"
