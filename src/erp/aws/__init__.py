"""AWS Secrets Manager: the cached secret source and the rotation Lambda for the JWT key ring."""
