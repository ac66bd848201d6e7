#!/usr/bin/env python3
"""Canopy's exact Shapley explainer against shap's ExactExplainer on the same model (a logistic
score over 10 standardised indicators, 100·σ(b + w·x)) and the same inputs, with one reference
row as the background. Prints the largest difference and the time per explanation of each.
usage: python3 bench/burnout/shap_compare.py   (needs numpy and shap; run from the repository)"""
import json
import subprocess
import time

import numpy as np
import shap

rng = np.random.default_rng(0)
n, rows = 10, 200
w = rng.normal(0, 0.5, n)
b = -2.0
reference = rng.normal(0, 0.3, n)
X = rng.normal(0, 1.5, (rows, n))


def f(x):
    return 100 / (1 + np.exp(-(b + x @ w)))


explainer = shap.explainers.Exact(f, reference.reshape(1, -1))
explainer(X[:5], silent=True)  # warm-up: shap compiles its coalition code on first use
t = time.perf_counter()
sv = explainer(X, silent=True)
py_per = (time.perf_counter() - t) / rows
py_values = sv.values

out = subprocess.run(
    ["cargo", "run", "--quiet", "--release", "-p", "canopy-models", "--example", "shapley_logistic"],
    input=json.dumps({"bias": b, "weights": w.tolist(), "reference": reference.tolist(), "inputs": X.tolist()}),
    capture_output=True, text=True, check=True,
).stdout
rs = json.loads(out)
rs_values = np.array(rs["values"])
diff = np.abs(rs_values - py_values).max()
print(f"max |canopy - shap| over {rows} explanations x {n} indicators: {diff:.2e}")
print(f"shap ExactExplainer: {py_per * 1e6:.0f} µs per explanation")
print(f"canopy shapley:      {rs['seconds_per_explanation'] * 1e6:.1f} µs per explanation")
print(f"ratio: {py_per / rs['seconds_per_explanation']:.0f}x")
