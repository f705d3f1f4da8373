"""Reports from MLflow runs: seeds aggregated, every configuration compared with `base` on the same
eval set, Pareto-optimal configurations marked (`python -m lenbench.report`)."""
