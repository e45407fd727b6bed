"""Loads every fixture module in tests/fixtures as a pytest plugin, so real-component fixtures
(Kafka broker, network namespaces, API server) are shared by all test folders."""

from pathlib import Path

pytest_plugins = [
    f"tests.fixtures.{p.stem}" for p in sorted((Path(__file__).parent / "fixtures").glob("*.py")) if p.stem != "__init__"
]
