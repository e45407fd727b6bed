"""Node discovery: which network namespaces (pods) exist, what runs in them, and what to tap.

``scan.scan`` reads the node (processes, namespaces, interfaces, mesh sidecars) and
``plan.plan_taps`` turns that into tap specs; ``cgroup`` maps processes to containers and pods.
"""
