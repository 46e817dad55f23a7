"""AWS Secrets Manager: the JWT key ring in one secret, read through a cache, rotated by a Lambda.

Where things are (boto3 is imported only when a call is made):

* :mod:`erp.aws.client`: the one client factory and call wrapper (timeouts, region and
  credential checks, AWS errors as ``erp`` errors) and the stage names;
* :mod:`erp.aws.document`: the secret's JSON (the ring through :mod:`erp.jwt.codec`);
* :mod:`erp.aws.cache`, :mod:`erp.aws.source`: cached, stage-aware reads for ``get_secret``
  and ``verify_token``; :mod:`erp.aws.successor`: when ``AWSPENDING`` may be trusted;
* :mod:`erp.aws.lambda_rotation`: the rotation Lambda (``erp.aws.rotation`` is its old path);
* :mod:`erp.aws.admin` (push, status), :mod:`erp.aws.watch` (``RotateSecret`` and its
  steps), :mod:`erp.aws.driver` (the service's orchestration, for emulators);
* :mod:`erp.aws.schedule`, :mod:`erp.aws.cron`: Secrets Manager's rotation rules;
* :mod:`erp.aws.strict`: the strict emulator layer the tests run behind;
* :mod:`erp.aws.errors`: every exception of the feature.
"""
