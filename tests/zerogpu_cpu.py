"""Let ZeroGPU's real emulation of CUDA (the `spaces` package) run on a CPU build of torch.

    import tests.zerogpu_cpu   # first, before `spaces` (app.py imports `spaces` first)
    import app                 # with SPACES_ZERO_GPU=true: `spaces` patches torch as on a Space

On a ZeroGPU Space, `spaces` makes torch believe a GPU is there while none is attached:
`.to("cuda")` in the thread that imported it is recorded and the tensor stays on the CPU,
and `torch._C._cuda_init` is replaced by an error ("Low-level CUDA init ... reached"), so
anything that really touches CUDA at start-up fails there. On a CUDA build every real CUDA
operation starts with `torch.cuda._lazy_init`, which calls `torch._C._cuda_init`.

A CPU build lacks what `spaces` reads, and its `_lazy_init` fails before that call ("Torch not
compiled with CUDA enabled"). This module adds the missing pieces, so the same code paths meet
the same error here:

- `torch._C._cuda_init`: a stand-in for `spaces` to save and replace with its error;
- `torch.cuda._lazy_init` calls `torch._C._cuda_init`, as a CUDA build's does;
- `torch.version.cuda`: `spaces` picks its constants by it;
- `torch.cuda._is_in_bad_fork`: `spaces` calls it in a forked process, and a CPU build's is a
  lambda, which cannot be sent back.

What it cannot show: real CUDA. The GPU worker, tensors moved onto a GPU and a run there need
a GPU machine (bench/zerogpu_check.py).
"""

from __future__ import annotations

import torch

CUDA_VERSION = "12.8"  # any version `spaces` knows


def _cuda_init() -> None:
    raise RuntimeError("torch._C._cuda_init was reached before `spaces` replaced it")


def _never_in_bad_fork() -> bool:
    return False


def _lazy_init() -> None:
    torch._C._cuda_init()  # looked up at each call: `spaces` replaces it


if not hasattr(torch._C, "_cuda_init"):  # a CPU build; a CUDA build is left as it is
    torch._C._cuda_init = _cuda_init
    torch.cuda._lazy_init = _lazy_init
    torch.cuda._is_in_bad_fork = _never_in_bad_fork
    torch.version.cuda = CUDA_VERSION
