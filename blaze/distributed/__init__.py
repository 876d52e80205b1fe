"""``blaze.distributed``: data-parallel training over MPI (host tensors) and NCCL (cuda tensors).

PyTorch's ``torch.distributed`` API on existing collective engines: ``mpi4py`` moves host
tensors' NumPy buffers, NVIDIA's ``nccl4py`` moves cuda tensors (staged through host memory
where NCCL is missing). Start the processes with ``blaze run -n N script.py`` (or
``mpiexec -n N python script.py``)::

    import blaze
    import blaze.distributed as dist

    dist.init_process_group()
    t = blaze.ones(3) * dist.get_rank()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    dist.destroy_process_group()

Install the transport with ``pip install 'blaze[mpi]'``. Importing this package loads
neither mpi4py nor NCCL; ``init_process_group`` does.
"""
from .collectives import (Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce,  # noqa: F401
                          all_to_all, all_to_all_single, barrier, broadcast, broadcast_object_list, gather, irecv,
                          isend, recv, reduce, reduce_scatter, reduce_scatter_tensor, scatter, send)
from .process_group import (DistBackendError, DistError, GroupMember, ProcessGroup, ReduceOp,  # noqa: F401
                            default_pg_timeout, destroy_process_group, get_backend, get_global_rank,
                            get_local_rank, get_node_local_rank, get_process_group_ranks, get_rank,
                            get_world_size, group, init_process_group, is_available, is_gloo_available,
                            is_initialized, is_mpi_available, is_nccl_available, new_group)
