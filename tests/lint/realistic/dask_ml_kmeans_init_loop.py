# Source: dask/dask-ml dask_ml/cluster/k_means.py @ 8e2fbb28 (init_scalable): an
# iterative algorithm; each iteration's computed centers feed the next (clean).
import numpy as np
from dask import compute


def init_scalable(X, n_clusters, random_state=None, max_iter=None, oversampling_factor=2):
    idx = 0
    centers = compute(X[idx, np.newaxis])[0]
    c_idx = {idx}
    (cost,) = compute(evaluate_cost(X, centers))
    n_iter = int(np.round(np.log(cost))) if cost else 0
    for i in range(n_iter):
        new_idxs = _sample_points(X, centers, oversampling_factor, random_state)
        new_idxs = set(*compute(new_idxs))
        c_idx |= new_idxs
        centers = X[sorted(c_idx)].compute()
    return centers
