"""Connectivity check: can a client here reach every broker of a cluster?

For each broker name and scheme the check resolves the name, opens a TCP
connection to the advertised port, completes the TLS handshake (every scheme
but plaintext) and asks the broker for its API versions. It needs no
credentials and never produces or consumes: ApiVersions is the one request a
Kafka broker answers before authentication. Standard library only, so it
runs from the Lambda layer, a bastion host or a laptop alike.
"""
