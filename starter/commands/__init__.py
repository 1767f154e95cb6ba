"""Sub-commands of ``niva``, one module per group."""
