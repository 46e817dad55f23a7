"""Tests of the AWS Secrets Manager backend, against the moto server over HTTP."""
