"""``mlops console``: a local web app over the stack's records (read-only, plus confirmed actions).

Layout: ``app`` routes requests and guards them (host check, CSRF token, confirmations); ``pages/``
holds one module per section, each exporting ``SECTION`` (its navigation entry and routes);
``actions`` holds the state-changing actions, each confirmed on its own page and carried out by the
same domain functions the CLI calls; ``charts`` draws inline SVG; ``server`` is the stdlib HTTP
adapter. Nothing is fetched from outside the package: no CDN, no build step.
"""
