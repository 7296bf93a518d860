"""The doctor's reads of AWS (boto3): the one place doctor calls AWS."""
