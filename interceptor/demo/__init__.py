"""A live demo node (``interceptor demo``): real pods as network namespaces, the real agent, Kafka, the map."""
