"""The one librdkafka client configuration, built from the config model's ``kafka`` section, for
every Kafka client of both packages: the agent's producer and admin client, the processor's
consumers, its detections producer, the hub's reader. One broker address key
(``kafka.bootstrap_servers``), one place for ``security_protocol``, SASL and TLS, so a setting the
chart passes reaches every component (docs/deploy.md promises TLS + SASL everywhere).
"""

from __future__ import annotations

from typing import Any

from interceptor.config import KafkaConfig

LOCAL_BROKER = "127.0.0.1:9092"  # the processor's broker when kafka.bootstrap_servers is empty


def client_config(cfg: KafkaConfig, bootstrap: str | None = None) -> dict[str, Any]:
    """Broker address, TLS and SASL: what every client (producer, consumer, admin) shares.
    ``kafka.extra`` entries of those families (``ssl.*``, ``sasl.*``, ``security.*``, ``socket.*``)
    are added as they are."""
    out: dict[str, Any] = {"bootstrap.servers": bootstrap or cfg.bootstrap_servers,
                           "security.protocol": cfg.security_protocol}
    optional = {
        "sasl.mechanism": cfg.sasl_mechanism, "sasl.username": cfg.sasl_username,
        "sasl.password": cfg.sasl_password, "ssl.ca.location": cfg.ssl_ca_location,
        "ssl.certificate.location": cfg.ssl_certificate_location, "ssl.key.location": cfg.ssl_key_location,
    }
    out.update({k: v for k, v in optional.items() if v})
    out.update({k: v for k, v in cfg.extra.items() if k.split(".")[0] in ("ssl", "sasl", "security", "socket")})
    return out


def processor_bootstrap(cfg: KafkaConfig) -> str:
    """The broker the processor's services use: ``kafka.bootstrap_servers``, else the local one."""
    return cfg.bootstrap_servers or LOCAL_BROKER


def consumer_config(cfg: KafkaConfig, group: str, session_timeout_ms: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A consumer-group member with manual commits (at-least-once: commit after the output is safe)."""
    return {
        **client_config(cfg, processor_bootstrap(cfg)),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(500, session_timeout_ms // 4),
        "max.poll.interval.ms": 300_000,
        "fetch.message.max.bytes": 10_485_760,
        "client.id": f"privacy-{group}",
        **(extra or {}),
    }


def detections_producer_config(cfg: KafkaConfig, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The processor's producer of detections records (idempotent, acks=all)."""
    return {
        **client_config(cfg, processor_bootstrap(cfg)),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "zstd",
        "client.id": "privacy-processor",
        **(extra or {}),
    }


def admin_config(cfg: KafkaConfig) -> dict[str, Any]:
    return client_config(cfg, processor_bootstrap(cfg))
