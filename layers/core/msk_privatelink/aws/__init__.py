"""AWS adapters: the only place that talks to boto3."""
