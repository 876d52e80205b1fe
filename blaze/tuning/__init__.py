"""Autotuning: benchmark kernel configs, cache the winners on disk, record launched shapes.

``blaze tune`` is the command line (:mod:`blaze.tuning.cli`); the same as an API::

    import blaze.tuning as bt
    bt.tune("softmax", dict(M=4096, N=50257, dtype="bfloat16"))   # one problem
    with bt.record():                                            # or: the shapes a run launches
        step()
    bt.tune_recorded()

Kernels consult the cache through ``blaze.kernels.registry.config_for`` (cached config, else
the heuristic); see :mod:`blaze.tuning.cache` for the key and the file.
"""
from blaze.tuning.cache import cache_path, clear, export, import_, install, lookup  # noqa: F401
from blaze.tuning.tuner import Recorder, TuneResult, load_records, record, tune, tune_recorded  # noqa: F401

install()  # the kernel registry consults the cache from now on; kernels never import tuning
