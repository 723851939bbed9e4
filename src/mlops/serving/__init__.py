"""The inference service: the production model of each dataset, served over HTTPS.

Import graph: onnxruntime, numpy, Powertools and botocore only; never scikit-learn, pandas or scipy,
nor pydantic (the records it reads are plain dataclasses, ``mlops.serving.records``; only the
``/openapi.json`` document loads pydantic, on its first request). A test holds the inference function
to that, so its package stays small and its cold start short.
"""
