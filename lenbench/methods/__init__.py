"""The methods' maths: one module per method (config dataclass, rewards, targets, weights, advantages).

Pure functions, lists or tensors in and out; no TRL, no I/O. Which methods exist, and how each one is
trained, is lenbench.registry's (one entry per method).
"""
