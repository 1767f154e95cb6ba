"""Every side effect of niva, one module per outside service."""
