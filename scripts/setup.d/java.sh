#!/usr/bin/env bash
# The TLS source's Java agent (interceptor/tls/java: ByteBuddy advice on JSSE, shaded into one jar),
# built with Maven from Maven Central into /var/cache/privacy-sensor/java/jtap-<sources hash>.jar.
# Cached by the hash of its sources: a second run builds nothing. Needs Java 17 + Maven (the image).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=/var/cache/privacy-sensor/java
JAR=$(python3 -c 'from interceptor.tls.java import CACHE, sources_digest; print(CACHE / f"jtap-{sources_digest()}.jar")')
if [ -f "$JAR" ]; then
  echo "java: agent $JAR built"
  exit 0
fi
command -v mvn >/dev/null || { echo "java: mvn not found: the Java TLS agent is not built (JVMs stay unread)" >&2; exit 0; }
mkdir -p "$CACHE"
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
cp -r interceptor/tls/java/. "$BUILD/"
rm -rf "$BUILD/target"
echo "java: building the Java TLS agent (ByteBuddy, Maven Central) into $JAR"
nice mvn -B -q -f "$BUILD/pom.xml" -Dmaven.repo.local="$CACHE/m2" package
cp "$BUILD/target/jtap.jar" "$JAR.tmp" && mv "$JAR.tmp" "$JAR"
