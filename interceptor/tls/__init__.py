"""TLS plaintext capture with eBPF uprobes (OpenSSL and Go crypto/tls), fed to the same pipeline as
packets. Entry point: :func:`interceptor.tls.source.start_tls_source`."""
