"""Test support code shared by several test packages; fixtures stay in the conftest files,
which import from here, and no test imports a conftest. Among the modules:

- `api`: the API on a real Temporal dev server (test models, app, client);
- `activities`: the activity tests' case clock, webhook receiver and S3 endpoint types;
- `mail`: a real SMTP server on loopback and reading what it got;
- `jwks`: an identity provider's JWKS on loopback;
- `net`: free ports and waiting for a condition.
"""
