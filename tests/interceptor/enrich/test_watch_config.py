"""Configuration errors of the watch adapter name the key; node name precedence."""

from __future__ import annotations

import pytest

from interceptor.config import ConfigError, KubernetesConfig
from interceptor.enrich.watch import make_api_client, node_name_for


def test_node_name_precedence_and_error():
    assert node_name_for(KubernetesConfig(node_name="a"), fallback="b", env={"NODE_NAME": "c"}) == "a"
    assert node_name_for(KubernetesConfig(), fallback="b", env={"NODE_NAME": "c"}) == "b"
    assert node_name_for(KubernetesConfig(), env={"NODE_NAME": "c"}) == "c"
    assert node_name_for(KubernetesConfig(scope="cluster"), env={}) == ""
    with pytest.raises(ConfigError, match="kubernetes.node_name"):
        node_name_for(KubernetesConfig(), env={})


def test_bad_kubeconfig_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="kubernetes.kubeconfig"):
        make_api_client(KubernetesConfig(kubeconfig=str(tmp_path / "missing")))
