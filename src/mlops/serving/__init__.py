"""The inference service: the production model of each dataset, served over HTTPS.

Import graph: onnxruntime, numpy, pydantic, Powertools and boto3 only; never scikit-learn, pandas or
scipy (a test holds the inference function to that), so the function's package stays small and its
cold start short.
"""
