"""Prints the data-flow map from the map service's /api/edges (JSON on stdin) as a table."""

import json
import sys

from processor.maptable import render

print(render(json.load(sys.stdin)))
