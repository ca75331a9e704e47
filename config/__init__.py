"""The shipped settings: ``hotline.toml`` and the time-limit policy ``time_limits.toml``.

This folder is installed as the package ``hotline._defaults`` (see setup.cfg);
``hotline.settings`` finds the files there, or here in a source checkout.
"""
